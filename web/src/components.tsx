/**
 * Pieces every view uses: the confirmation every write asks for (a native
 * modal dialog: focus is trapped and Escape cancels, as the platform does
 * it), the live region that announces results, and the status banner.
 * Text from the registry is rendered as text only (Preact escapes it).
 */
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { useStore } from "./store.js";

export interface Confirmation {
  title: string;
  body: ComponentChildren;
  action: string;
  run: () => Promise<string>;
}

let openConfirm: ((c: Confirmation) => void) | undefined;
let announce: ((text: string, error?: boolean) => void) | undefined;

/** Asks before `c.run`, then announces its result (or its error). */
export function confirm(c: Confirmation): void {
  openConfirm?.(c);
}

export function notify(text: string, error = false): void {
  announce?.(text, error);
}

export function ConfirmDialog() {
  const ref = useRef<HTMLDialogElement>(null);
  const [c, setC] = useState<Confirmation | undefined>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    openConfirm = (next) => {
      setC(next);
      ref.current?.showModal();
    };
  }, []);
  const close = () => {
    ref.current?.close();
    setC(undefined);
  };
  const go = async () => {
    if (!c) return;
    setBusy(true);
    try {
      notify(await c.run());
    } catch (err) {
      notify(`${c.title} failed: ${(err as Error).message}`, true);
    } finally {
      setBusy(false);
      close();
    }
  };
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onClose={() => setC(undefined)}>
      {c && (
        <form
          method="dialog"
          onSubmit={(e) => {
            e.preventDefault();
            void go();
          }}
        >
          <h2 id="confirm-title">{c.title}</h2>
          <div>{c.body}</div>
          <div class="actions">
            <button type="button" onClick={close}>
              Cancel
            </button>
            <button type="submit" class="primary" disabled={busy}>
              {c.action}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}

export function Announcer() {
  const [msg, setMsg] = useState<{ text: string; error: boolean } | undefined>();
  useEffect(() => {
    announce = (text, error = false) => setMsg({ text, error });
  }, []);
  return (
    <div role="status" aria-live="polite" class={msg?.error ? "notice error" : "notice"} data-testid="notice">
      {msg?.text}
    </div>
  );
}

/** What is wrong, if anything: the server unreachable, the watch reconnecting, the source failing or not synced. */
export function StatusBanner() {
  const s = useStore();
  const problems: string[] = [];
  if (s.statusError) problems.push(`The server does not answer (${s.statusError}); what you see may be stale.`);
  else if (s.connection === "reconnecting") problems.push("The live view lost the server and is reconnecting; what you see may be stale.");
  if (s.status && !s.status.synced) problems.push(`The source (${s.status.source}) has not synced yet: the list may be incomplete.`);
  if (s.status?.failing) problems.push(`The source is failing (${s.status.failing.code}: ${s.status.failing.message}) since ${time(s.status.failing.since)}; instances are kept as last seen.`);
  if (problems.length === 0) return null;
  return (
    <div class="banner" role="alert">
      {problems.map((p) => (
        <p key={p}>{p}</p>
      ))}
    </div>
  );
}

export const time = (ms: number): string => new Date(ms).toLocaleTimeString();

export function age(ms: number | undefined, now: number): string {
  if (ms === undefined) return "";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}

/**
 * Rows a table renders at first and per "show more": a registry of thousands of instances stays
 * responsive (rendering 10,000 rows took seconds), while the filters still search them all.
 */
export const PAGE = 500;

/** How many rows to render; back to PAGE whenever `reset` changes (another service, another filter). */
export function useRowLimit(reset: string): [number, () => void] {
  const [limit, setLimit] = useState({ reset, rows: PAGE });
  const rows = limit.reset === reset ? limit.rows : PAGE;
  // Remember the reset, so that coming back to an earlier filter starts from the first page too.
  useEffect(() => {
    if (limit.reset !== reset) setLimit({ reset, rows: PAGE });
  }, [reset]);
  return [rows, () => setLimit({ reset, rows: rows + PAGE })];
}

/** "Showing 500 of 1,200" and a button for the next page, when rows are left out. */
export function MoreRows(props: { shown: number; total: number; onMore: () => void; what: string; testId: string }) {
  if (props.total <= props.shown) return null;
  const next = Math.min(PAGE, props.total - props.shown);
  return (
    <p class="more" data-testid={props.testId}>
      Showing {props.shown.toLocaleString("en")} of {props.total.toLocaleString("en")} {props.what}.{" "}
      <button type="button" onClick={props.onMore}>
        Show {next.toLocaleString("en")} more
      </button>
    </p>
  );
}

