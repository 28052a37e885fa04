// A small JSON Schema (2020-12 subset) validator for checking API answers against the
// OpenAPI document: $ref, type (incl. arrays of types), const, enum, required,
// properties, additionalProperties: false, items, oneOf, minimum, maximum, pattern.

type Schema = Record<string, unknown>;

/** Problems found validating `value` against `schema` (empty when valid). */
export function validate(root: Schema, schema: Schema, value: unknown, at = "$"): string[] {
  if (typeof schema.$ref === "string") {
    const name = schema.$ref.replace("#/components/schemas/", "");
    const target = (root.components as { schemas: Record<string, Schema> }).schemas[name];
    if (!target) return [`${at}: unknown $ref ${schema.$ref}`];
    return validate(root, target, value, at);
  }
  const errors: string[] = [];
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeOk(t as string, value))) {
      return [`${at}: expected ${types.join("|")}, got ${JSON.stringify(value)}`];
    }
  }
  if ("const" in schema && value !== schema.const) errors.push(`${at}: expected ${schema.const}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) {
    errors.push(`${at}: ${JSON.stringify(value)} not in enum`);
  }
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) errors.push(`${at}: < min`);
    if (typeof schema.maximum === "number" && value > schema.maximum) errors.push(`${at}: > max`);
  }
  if (typeof value === "string" && typeof schema.pattern === "string") {
    if (!new RegExp(schema.pattern, "u").test(value)) errors.push(`${at}: pattern mismatch`);
  }
  if (Array.isArray(schema.oneOf)) {
    const passing = schema.oneOf.filter((s) => validate(root, s, value, at).length === 0);
    if (passing.length !== 1) errors.push(`${at}: matches ${passing.length} of oneOf`);
  }
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required ?? []) as string[]) {
      if (!(key in object)) errors.push(`${at}: missing ${key}`);
    }
    for (const [key, v] of Object.entries(object)) {
      if (properties[key]) errors.push(...validate(root, properties[key], v, `${at}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${at}: extra ${key}`);
    }
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((v, i) =>
      errors.push(...validate(root, schema.items as Schema, v, `${at}[${i}]`))
    );
  }
  return errors;
}

function typeOk(type: string, value: unknown): boolean {
  switch (type) {
    case "null":
      return value === null;
    case "integer":
      return Number.isInteger(value);
    case "number":
      return typeof value === "number";
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "boolean":
      return typeof value === "boolean";
    default:
      throw new Error(`Unsupported type ${type}`);
  }
}
