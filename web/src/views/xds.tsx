/** The xDS clients (istioctl proxy-status): per type the version sent, ACKed and NACKed with the client's error. */
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, type TypeStatus, type XdsClient } from "../api.js";
import { Empty, time } from "../components.js";

const TYPES = ["lds", "rds", "cds", "eds"] as const;

export function XdsView() {
  const [clients, setClients] = useState<XdsClient[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    let stopped = false;
    const poll = async () => {
      try {
        const r = await api<{ clients: XdsClient[] }>("GET", "v1/xds/clients");
        if (stopped) return;
        setClients(r.clients);
        setError(undefined);
      } catch (err) {
        if (!stopped) setError(err instanceof ApiError && err.status === 404 ? "This server runs no xDS server (podreg serve --xds-port)." : (err as Error).message);
      }
    };
    void poll();
    const t = setInterval(() => void poll(), 2000);
    return () => {
      stopped = true;
      clearInterval(t);
    };
  }, []);
  return (
    <section aria-labelledby="xds-title">
      <h1 id="xds-title">xDS clients</h1>
      {error ? (
        <Empty>{error}</Empty>
      ) : clients === undefined ? (
        <Empty>Loading…</Empty>
      ) : clients.length === 0 ? (
        <Empty>No proxy or gRPC client is connected.</Empty>
      ) : (
        <div class="scroll">
          <table data-testid="xds-clients">
            <thead>
              <tr>
                <th scope="col">Node</th>
                <th scope="col">Kind</th>
                <th scope="col">Connected</th>
                {TYPES.map((t) => (
                  <th scope="col" key={t}>
                    {t.toUpperCase()}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {clients.map((c) => (
                <tr key={c.id}>
                  <th scope="row">
                    {c.node?.id ?? "?"}
                    <div class="muted">{[c.node?.userAgent, c.node?.userAgentVersion].filter(Boolean).join(" ")}</div>
                  </th>
                  <td>{c.kind}</td>
                  <td>{time(c.connectedAt)}</td>
                  {TYPES.map((t) => (
                    <td key={t}>
                      <TypeCell status={c.types[t]} />
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function TypeCell(props: { status: TypeStatus | undefined }) {
  const s = props.status;
  if (!s) return <span class="muted">not asked</span>;
  const synced = s.sent && s.acked?.version === s.sent.version;
  return (
    <div>
      <div>{synced ? <span class="badge ok">synced</span> : s.sent ? <span class="badge">sent, not ACKed</span> : <span class="muted">nothing sent</span>}</div>
      {s.sent && <div class="muted">sent {s.sent.version} ({s.sent.resources})</div>}
      {s.acked && <div class="muted">ACKed {s.acked.version}</div>}
      {s.nacked && (
        <div class="error">
          NACKed {s.nacked.version} ×{s.nacked.count}: {s.nacked.error}
        </div>
      )}
    </div>
  );
}
