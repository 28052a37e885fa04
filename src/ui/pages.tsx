/** @jsxImportSource hono/jsx */
/**
 * Server-rendered pages: the file manager's shell, sign-in, and shared links. Hono's JSX
 * escapes every text and attribute value, so names from the filesystem are safe here; the
 * client script sets names with textContent only.
 *
 * @module
 */

import type { Child } from "hono/jsx";
import { ASSET_VERSION } from "./_assets.ts";
import { nameParts, savedName, shownName } from "../http/shown_name.ts";

/** The URL of a static asset. */
export function assetUrl(name: string): string {
  return `/ui/assets/${ASSET_VERSION}/${name}`;
}

function Page(props: { title: string; bodyClass: string; children: Child; data?: object }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>{props.title}</title>
        <link rel="stylesheet" href={assetUrl("app.css")} />
      </head>
      <body class={props.bodyClass} {...(props.data ?? {})}>
        {props.children}
      </body>
    </html>
  );
}

/** What the shell tells the client script. */
export interface ShellProps {
  readonly user: string;
  readonly access: "ro" | "rw";
  readonly prefix: string;
  readonly csrf: string;
  readonly authOn: boolean;
  /** tus chunk size in bytes (0: the client's default). */
  readonly chunkSize: number;
}

/** The file manager: the client script fills the list. */
export function Shell(props: ShellProps) {
  const rw = props.access === "rw";
  return (
    <Page
      title="PageFS"
      bodyClass="app"
      data={{
        "data-user": props.user,
        "data-access": props.access,
        "data-prefix": props.prefix,
        "data-csrf": props.csrf,
        "data-auth": props.authOn ? "1" : "0",
        "data-api": "/api/v1",
        "data-uploads": "/api/v1/uploads/",
        ...(props.chunkSize ? { "data-chunk": String(props.chunkSize) } : {}),
      }}
    >
      <a class="skip" href="#list">Skip to the file list</a>
      <header class="top">
        <span class="brand">PageFS</span>
        <nav id="crumbs" aria-label="Breadcrumbs">
          <ol></ol>
        </nav>
        <span class="who">
          <span>
            {props.user}
            {rw ? "" : " (read-only)"}
          </span>
          {props.authOn
            ? (
              <form method="post" action="/ui/logout">
                <input type="hidden" name="csrf" value={props.csrf} />
                <button type="submit" class="small">Sign out</button>
              </form>
            )
            : null}
        </span>
      </header>
      <div class="toolbar" role="toolbar" aria-label="Actions">
        <button type="button" id="up" aria-label="Up to the parent folder">↑ Up</button>
        {rw
          ? (
            <>
              <button type="button" id="upload-files">Upload files</button>
              <button type="button" id="upload-folder">Upload folder</button>
              <button type="button" id="new-folder">New folder</button>
              <input type="file" id="file-input" multiple hidden aria-label="Files to upload" />
              <input
                type="file"
                id="folder-input"
                multiple
                hidden
                webkitdirectory=""
                aria-label="Folder to upload"
              />
            </>
          )
          : null}
        <span class="sep"></span>
        <span id="selection" aria-live="polite"></span>
        <button type="button" id="download" data-needs="any" disabled>Download</button>
        {rw
          ? (
            <>
              <button type="button" id="rename" data-needs="1" disabled>Rename</button>
              <button type="button" id="move" data-needs="any" disabled>Move</button>
              <button type="button" id="copy" data-needs="any" disabled>Copy</button>
              <button type="button" id="share" data-needs="1" disabled>Share</button>
              <button type="button" id="delete" data-needs="any" class="danger" disabled>
                Delete
              </button>
            </>
          )
          : null}
      </div>
      <main>
        <div class="list-head" role="row">
          <span role="columnheader">
            <input type="checkbox" id="select-all" aria-label="Select all" />
          </span>
          <span role="columnheader" class="col-name" aria-sort="ascending">
            <button type="button" data-key="name">Name</button>
          </span>
          <span role="columnheader" class="col-size" aria-sort="none">
            <button type="button" data-key="size">Size</button>
          </span>
          <span role="columnheader" class="col-date" aria-sort="none">
            <button type="button" data-key="mtime">Modified</button>
          </span>
        </div>
        <div
          id="list"
          role="listbox"
          aria-label="Files and folders"
          aria-multiselectable="true"
          tabindex={0}
        >
          <div class="spacer"></div>
          <div class="rows"></div>
        </div>
        <p id="empty" hidden>This folder is empty.</p>
      </main>
      <footer>
        <span id="count"></span>
        <span id="status" role="status" aria-live="polite"></span>
      </footer>
      <section id="uploads-panel" aria-label="Uploads" hidden></section>
      <div id="drop" hidden>Drop files or folders to upload them here</div>
      <script defer src={assetUrl("tus.min.js")}></script>
      <script type="module" src={assetUrl("app.js")}></script>
    </Page>
  );
}

/** The sign-in form. */
export function LoginPage(props: { error?: string; next: string; user?: string }) {
  return (
    <Page title="Sign in – PageFS" bodyClass="center">
      <main class="card">
        <h1>Sign in to PageFS</h1>
        <form method="post" action="/ui/login">
          {props.error ? <p class="error" role="alert">{props.error}</p> : null}
          <input type="hidden" name="next" value={props.next} />
          <label>
            User name
            <input
              type="text"
              name="user"
              autocomplete="username"
              required
              autofocus
              value={props.user ?? ""}
            />
          </label>
          <label>
            Password
            <input type="password" name="password" autocomplete="current-password" required />
          </label>
          <button type="submit" class="primary">Sign in</button>
        </form>
      </main>
    </Page>
  );
}

/** A page with one message (an expired link, say). */
export function MessagePage(props: { title: string; message: string }) {
  return (
    <Page title={`${props.title} – PageFS`} bodyClass="center">
      <main class="card">
        <h1>{props.title}</h1>
        <p>{props.message}</p>
      </main>
    </Page>
  );
}

/** The password form of a protected share link. */
export function SharePasswordPage(props: { action: string; error?: string }) {
  return (
    <Page title="Protected link – PageFS" bodyClass="center">
      <main class="card">
        <h1>This link is protected</h1>
        <form method="post" action={props.action}>
          {props.error ? <p class="error" role="alert">{props.error}</p> : null}
          <label>
            Password
            <input type="password" name="password" required autofocus />
          </label>
          <button type="submit" class="primary">Open</button>
        </form>
      </main>
    </Page>
  );
}

/**
 * A file name as shown: isolated left to right, each character that would hide or reorder
 * text (a bidi override, a control) shown as its code point (`src/http/shown_name.ts`).
 */
function Name(props: { name: string }) {
  return (
    <bdi dir="ltr" class="fname">
      {nameParts(props.name).map((p, i) =>
        "text" in p ? p.text : (
          <span key={i} class="hidden-char" title={p.hidden}>
            {p.hidden}
          </span>
        )
      )}
    </bdi>
  );
}

/** One row of a shared folder. */
export interface ShareRow {
  readonly name: string;
  readonly href: string;
  readonly isDir: boolean;
  readonly size: string;
  readonly mtime: string;
}

/** A shared folder's listing (read-only). */
export function ShareFolderPage(
  props: { title: string; rows: readonly ShareRow[]; parent: string | null; more: string | null },
) {
  return (
    <Page title={`${shownName(props.title)} – shared with PageFS`} bodyClass="">
      <main class="shared">
        <h1>
          <Name name={props.title} />
        </h1>
        <p>A read-only shared folder.</p>
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Size</th>
              <th scope="col">Modified</th>
            </tr>
          </thead>
          <tbody>
            {props.parent
              ? (
                <tr>
                  <td colspan={3}>
                    <a href={props.parent}>↑ Parent folder</a>
                  </td>
                </tr>
              )
              : null}
            {props.rows.map((row) => (
              <tr>
                <td>
                  <a href={row.href}>
                    <Name name={row.name} />
                    {row.isDir ? "/" : ""}
                  </a>
                </td>
                <td class="size">{row.size}</td>
                <td>
                  <time datetime={row.mtime}>{row.mtime.replace("T", " ").slice(0, 16)}</time>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {props.more
          ? (
            <p>
              <a href={props.more}>More…</a>
            </p>
          )
          : null}
      </main>
    </Page>
  );
}

/** A shared file: its name, size, a download link and an image preview when it is one. */
export function ShareFilePage(
  props: { name: string; size: string; raw: string; download: string; image: boolean },
) {
  return (
    <Page title={`${shownName(props.name)} – shared with PageFS`} bodyClass="">
      <main class="shared">
        <h1>
          <Name name={props.name} />
        </h1>
        <p>
          {props.size} · <a href={props.download} download={savedName(props.name)}>Download</a>
          {" · "}
          <a href={props.raw}>Open</a>
        </p>
        {props.image ? <img src={props.raw} alt={shownName(props.name)} /> : null}
      </main>
    </Page>
  );
}
