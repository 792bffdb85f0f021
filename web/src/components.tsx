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
