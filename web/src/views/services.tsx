/** The services: search, filters (namespace, source, metadata selector), hide empty; a service with none ready stands out. */
import { Component } from "preact";
import { useMemo, useState } from "preact/hooks";
import { parseSelector, type Selector } from "../../../src/router/selector.js";
import { Empty, MoreRows, useRowLimit } from "../components.js";
import { useStore, type ServiceRow } from "../store.js";

export function ServicesView() {
  const s = useStore();
  const [q, setQ] = useState("");
  const [ns, setNs] = useState("");
  const [source, setSource] = useState("");
  const [sel, setSel] = useState("");
  const [hideEmpty, setHideEmpty] = useState(false);
  const rows = useMemo(() => s.rows(), [s.version]);
  let selector: Selector | undefined;
  let selError: string | undefined;
  try {
    selector = sel.trim() ? parseSelector(sel) : undefined;
  } catch (err) {
    selError = (err as Error).message;
  }
  // A selector keeps services with at least one instance it matches.
  const matching = useMemo(() => {
    if (!selector) return undefined;
    const keys = new Set<string>();
    for (const i of s.instances.values()) if (selector.matches(i)) keys.add(i.key);
    return keys;
  }, [s.version, sel]);
  const namespaces = [...new Set(rows.map((r) => r.namespace).filter((x): x is string => !!x))].sort();
  const sources = [...new Set(rows.flatMap((r) => r.sources))].sort();
  const needle = q.trim().toLowerCase();
  const shown = rows.filter(
    (r) =>
      (!needle || r.key.toLowerCase().includes(needle)) &&
      (!ns || r.namespace === ns) &&
      (!source || r.sources.includes(source)) &&
      (!matching || matching.has(r.key)) &&
      (!hideEmpty || r.total > 0),
  );
  const [limit, more] = useRowLimit(`${needle}|${ns}|${source}|${sel}|${hideEmpty}`);
  return (
    <section aria-labelledby="services-title">
      <h1 id="services-title">Services</h1>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Search
          <input type="search" value={q} onInput={(e) => setQ(e.currentTarget.value)} placeholder="name or namespace/name" data-testid="search" />
        </label>
        <Choice label="Namespace" value={ns} options={namespaces} onChange={setNs} testId="namespace" />
        <Choice label="Source" value={source} options={sources} onChange={setSource} testId="source" />
        <label>
          Metadata selector
          <input value={sel} onInput={(e) => setSel(e.currentTarget.value)} placeholder="version=v2,zone in (a,b)" aria-invalid={selError ? "true" : undefined} aria-describedby={selError ? "sel-error" : undefined} data-testid="selector" />
        </label>
        <label class="check">
          <input type="checkbox" checked={hideEmpty} onChange={(e) => setHideEmpty(e.currentTarget.checked)} data-testid="hide-empty" />
          Hide empty
        </label>
      </form>
      {selError && (
        <p id="sel-error" class="error">
          Selector: {selError}
        </p>
      )}
      <p class="count" data-testid="service-count">
        {shown.length} of {rows.length} services
      </p>
      {rows.length === 0 ? (
        <Empty>{s.snapshotAt === undefined ? "Waiting for the registry…" : "No services are registered."}</Empty>
      ) : shown.length === 0 ? (
        <Empty>No service matches these filters.</Empty>
      ) : (
        <div class="scroll">
          <table data-testid="services">
            <thead>
              <tr>
                <th scope="col">Service</th>
                <th scope="col">Scope</th>
                <th scope="col">Sources</th>
                <th scope="col">Protocols</th>
                <th scope="col">Ready / total</th>
                <th scope="col">Policy</th>
              </tr>
            </thead>
            <tbody>
              {shown.slice(0, limit).map((r) => (
                <Row key={r.key} r={r} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <MoreRows shown={Math.min(limit, shown.length)} total={shown.length} onMore={more} what="services" testId="more-services" />
    </section>
  );
}

/** One service's row; re-rendered only when its content changes (a change elsewhere re-renders one row, not a thousand). */
class Row extends Component<{ r: ServiceRow }> {
  override shouldComponentUpdate(next: { r: ServiceRow }): boolean {
    const a = this.props.r;
    const b = next.r;
    return a.total !== b.total || a.ready !== b.ready || a.policy !== b.policy || a.name !== b.name || a.sources.join() !== b.sources.join() || a.protocols.join() !== b.protocols.join() || a.clusters.join() !== b.clusters.join();
  }

  override render() {
    const r = this.props.r;
    return (
      <tr class={r.total > 0 && r.ready === 0 ? "none-ready" : r.total === 0 ? "empty-row" : undefined} data-key={r.key}>
        <th scope="row">
          <a href={`#/service/${encodeURIComponent(r.key)}`}>{r.name}</a>
        </th>
        <td>{[r.namespace ?? "global", ...r.clusters.map((c) => `cluster ${c}`)].join(", ")}</td>
        <td>{r.sources.join(", ")}</td>
        <td>{r.protocols.join(", ")}</td>
        <td>
          {r.ready} / {r.total}
          {r.total > 0 && r.ready === 0 && (
            <>
              {" "}
              <span class="badge bad">none ready</span>
            </>
          )}
        </td>
        <td>{r.policy}</td>
      </tr>
    );
  }
}

/** A labelled select with "all" first. */
function Choice(props: { label: string; value: string; options: readonly string[]; onChange: (v: string) => void; testId: string }) {
  return (
    <label>
      {props.label}
      <select value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)} data-testid={props.testId}>
        <option value="">all</option>
        {props.options.map((n) => (
          <option key={n} value={n}>
            {n}
          </option>
        ))}
      </select>
    </label>
  );
}
