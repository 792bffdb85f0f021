/**
 * One service: its instances (sortable, filterable), a live timeline of its
 * changes, the policy the server knows for it, how to call it, and, with the
 * token, the local registry's writes: offline / online (weight 0 and back,
 * as Nacos does it), weight and metadata, add and delete persistent instances.
 */
import { useMemo, useState } from "preact/hooks";
import { api, localEntry, token, type Instance } from "../api.js";
import { age, confirm, Empty, MoreRows, time, useRowLimit } from "../components.js";
import { useStore } from "../store.js";
import { CallIt, PolicyView } from "./service-info.js";

/** Where an instance's weight is kept while it is offline, so online restores it. */
const SAVED_WEIGHT = "podreg.io/weight-before-offline";

type SortKey = "host" | "port" | "protocol" | "zone" | "weight" | "ready" | "age" | "origin";

const value = (i: Instance, k: SortKey): string | number => {
  switch (k) {
    case "port":
    case "weight":
      return i[k];
    case "ready":
      return i.ready ? 1 : 0;
    case "age":
      return -(i.startTime ?? 0);
    case "zone":
      return `${i.zone ?? ""} ${i.node ?? ""}`;
    default:
      return i[k] ?? "";
  }
};

export function ServiceView(props: { serviceKey: string }) {
  const s = useStore();
  const key = props.serviceKey;
  const [sort, setSort] = useState<{ by: SortKey; desc: boolean }>({ by: "host", desc: false });
  const [filter, setFilter] = useState("");
  const writable = s.status?.writes === true && token.get() !== undefined;
  const all = useMemo(() => [...s.instances.values()].filter((i) => i.key === key), [s.version, key]);
  const needle = filter.trim().toLowerCase();
  const list = all
    .filter((i) => !needle || JSON.stringify([i.host, i.port, i.protocol, i.zone, i.node, i.origin, i.metadata, i.labels]).toLowerCase().includes(needle))
    .sort((a, b) => {
      const x = value(a, sort.by);
      const y = value(b, sort.by);
      const c = x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : 1;
      return sort.desc ? -c : c;
    });
  const [limit, more] = useRowLimit(`${key}|${needle}|${sort.by}|${sort.desc}`);
  const changes = s.timeline.filter((c) => c.instance.key === key).slice(0, 50);
  const now = Date.now();
  const name = all[0]?.service ?? key.slice(key.lastIndexOf("/") + 1);
  const head = (k: SortKey, label: string) => (
    <th scope="col" aria-sort={sort.by === k ? (sort.desc ? "descending" : "ascending") : "none"}>
      <button type="button" class="sort" onClick={() => setSort({ by: k, desc: sort.by === k ? !sort.desc : false })}>
        {label}
      </button>
    </th>
  );
  return (
    <section aria-labelledby="service-title">
      <p>
        <a href="#/">← Services</a>
      </p>
      <h1 id="service-title">{name}</h1>
      <p class="muted">
        key <code>{key}</code> · {all.filter((i) => i.ready).length} ready of {all.length}
      </p>
      <h2>Instances</h2>
      <div class="filters">
        <label>
          Filter instances
          <input type="search" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} placeholder="host, zone, pod, metadata…" data-testid="instance-filter" />
        </label>
        {writable && <AddInstance service={name} />}
      </div>
      {all.length === 0 ? (
        <Empty>No instance of {key} is registered right now.</Empty>
      ) : (
        <div class="scroll">
          <table data-testid="instances">
            <thead>
              <tr>
                {head("host", "Host")}
                {head("port", "Port")}
                {head("protocol", "Protocol")}
                {head("zone", "Zone / node")}
                {head("weight", "Weight")}
                {head("ready", "Ready")}
                {head("age", "Age")}
                {head("origin", "Pod / workload")}
                <th scope="col">Metadata and labels</th>
                {writable && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {list.slice(0, limit).map((i) => (
                <tr key={i.id} data-host={i.host} data-port={i.port}>
                  <td>{i.host}</td>
                  <td>{i.port}</td>
                  <td>{i.protocol}</td>
                  <td>{[i.zone, i.node].filter(Boolean).join(" / ")}</td>
                  <td>
                    {i.weight}
                    {i.weight === 0 && (
                      <>
                        {" "}
                        <span class="badge">offline</span>
                      </>
                    )}
                  </td>
                  <td>{i.ready ? "ready" : <span class="badge bad">not ready</span>}</td>
                  <td>{age(i.startTime, now)}</td>
                  <td>{[i.cluster, i.origin].filter(Boolean).join(" / ")}</td>
                  <td>
                    <Pairs values={i.metadata} />
                    <Pairs values={i.labels} />
                  </td>
                  {writable && <td>{localEntry(i) ? <Actions instance={i} /> : <span class="muted">owned by {(i.sources ?? [i.source]).join(", ")}</span>}</td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <MoreRows shown={Math.min(limit, list.length)} total={list.length} onMore={more} what="instances" testId="more-instances" />
      <h2>Recent changes</h2>
      {changes.length === 0 ? (
        <Empty>No change since this page opened.</Empty>
      ) : (
        <ol class="timeline" data-testid="timeline">
          {changes.map((c) => (
            <li key={`${c.revision}-${c.instance.id}`}>
              <span class={`badge ${c.type}`}>{c.type}</span> {c.instance.host}:{c.instance.port} at {time(c.at)} (revision {c.revision})
            </li>
          ))}
        </ol>
      )}
      <PolicyView serviceKey={key} instances={all} />
      <CallIt name={name} serviceKey={key} protocols={[...new Set(all.map((i) => i.protocol))]} xds={s.status?.xds === true} />
    </section>
  );
}

function Pairs(props: { values: Readonly<Record<string, string>> }) {
  const entries = Object.entries(props.values);
  if (entries.length === 0) return null;
  return (
    <ul class="pairs">
      {entries.map(([k, v]) => (
        <li key={k}>
          <code>
            {k}={v}
          </code>
        </li>
      ))}
    </ul>
  );
}

function Actions(props: { instance: Instance }) {
  const i = props.instance;
  const id = localEntry(i)!;
  const path = `v1/instances/${encodeURIComponent(id)}`;
  const where = `${i.host}:${i.port}`;
  const offline = i.weight === 0;
  const toggle = () => {
    const saved = Number(i.metadata[SAVED_WEIGHT] ?? "100");
    const metadata = { ...i.metadata };
    if (offline) delete metadata[SAVED_WEIGHT];
    else metadata[SAVED_WEIGHT] = String(i.weight);
    confirm({
      title: offline ? `Put ${where} back online` : `Take ${where} offline`,
      body: offline ? <p>Its weight goes back to {saved}: consumers send it new calls again.</p> : <p>Its weight becomes 0: consumers send it no new calls. It stays registered.</p>,
      action: offline ? "Online" : "Offline",
      run: async () => {
        await api("PATCH", path, { weight: offline ? saved : 0, metadata });
        return offline ? `${where} is online (weight ${saved})` : `${where} is offline (weight 0)`;
      },
    });
  };
  const edit = () => {
    let weight = String(i.weight);
    let meta = Object.entries(i.metadata)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n");
    confirm({
      title: `Edit ${where}`,
      body: (
        <>
          <label>
            Weight
            <input type="number" min="0" defaultValue={weight} onInput={(e) => (weight = e.currentTarget.value)} data-testid="edit-weight" />
          </label>
          <label>
            Metadata, one key=value per line
            <textarea rows={5} defaultValue={meta} onInput={(e) => (meta = e.currentTarget.value)} data-testid="edit-metadata" />
          </label>
        </>
      ),
      action: "Save",
      run: async () => {
        const metadata = Object.fromEntries(
          meta
            .split("\n")
            .map((l) => l.trim())
            .filter(Boolean)
            .map((l) => [l.slice(0, l.indexOf("=") < 0 ? l.length : l.indexOf("=")), l.indexOf("=") < 0 ? "" : l.slice(l.indexOf("=") + 1)]),
        );
        await api("PATCH", path, { weight: Number(weight), metadata });
        return `${where} saved`;
      },
    });
  };
  const remove = () =>
    confirm({
      title: `Delete ${where}`,
      body: <p>It is deregistered from the local registry: consumers drop it.</p>,
      action: "Delete",
      run: async () => {
        await api("DELETE", path);
        return `${where} deleted`;
      },
    });
  return (
    <div class="row-actions">
      <button type="button" onClick={toggle} data-testid="toggle-offline">
        {offline ? "Online" : "Offline"}
      </button>
      <button type="button" onClick={edit}>
        Edit
      </button>
      <button type="button" onClick={remove}>
        Delete
      </button>
    </div>
  );
}

function AddInstance(props: { service: string }) {
  const open = () => {
    const f = { host: "", port: "", protocol: "http", weight: "100", id: "" };
    const field = (k: keyof typeof f, label: string, numeric = false) => {
      const common = { defaultValue: f[k], onInput: (e: { currentTarget: HTMLInputElement }) => (f[k] = e.currentTarget.value), "data-testid": `add-${k}` };
      return (
        <label>
          {label}
          {numeric ? <input type="number" {...common} /> : <input type="text" {...common} />}
        </label>
      );
    };
    confirm({
      title: `Add a persistent instance of ${props.service}`,
      body: (
        <>
          {field("host", "Host")}
          {field("port", "Port", true)}
          {field("protocol", "Protocol")}
          {field("weight", "Weight", true)}
          {field("id", "Id (optional)")}
        </>
      ),
      action: "Add",
      run: async () => {
        await api("POST", "v1/instances", { service: props.service, host: f.host, port: Number(f.port), protocol: f.protocol, weight: Number(f.weight), kind: "persistent", ...(f.id ? { id: f.id } : {}) });
        return `${f.host}:${f.port} added`;
      },
    });
  };
  return (
    <button type="button" onClick={open} data-testid="add-instance">
      Add instance
    </button>
  );
}
