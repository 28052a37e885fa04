/**
 * XML for the WebDAV front end, in one import: the hardened parser of request bodies
 * (`xml_parse.ts`: `saxes`, every DOCTYPE refused, so no XXE and no entity bombs) and the
 * writers of responses and stored fragments (`xml_render.ts`). Both share one model of names:
 * a namespace URI and a local name, attributes keyed by Clark name `{ns}local`.
 *
 * @module
 */

export {
  childElements,
  DAV,
  firstChild,
  isElement,
  parseXml,
  type ParseXmlOptions,
  readXmlBody,
  type ReadXmlBodyOptions,
  textOf,
  type XmlElement,
  XmlError,
  type XmlNode,
} from "./xml_parse.ts";
export {
  escapeXml,
  renderMember,
  renderXml,
  serializeFragment,
  type XmlOut,
} from "./xml_render.ts";
