import type { RegistryEvent } from "../model/events.js";
import { joinHostPort } from "../model/host.js";
import type { Instance } from "../model/instance.js";
import { escapeControl, terminalJson } from "../util/text.js";

/** The instance as printed by --json: stable field order, no undefined. */
export function instanceJson(i: Instance): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify({
      id: i.id,
      service: i.service,
      host: i.host,
      port: i.port,
      protocol: i.protocol,
      weight: i.weight,
      ready: i.ready,
      namespace: i.namespace,
      node: i.node,
      zone: i.zone,
      startTime: i.startTime === undefined ? undefined : new Date(i.startTime).toISOString(),
      metadata: i.metadata,
      labels: i.labels,
      source: i.source,
      sources: i.sources,
      cluster: i.cluster,
    }),
  ) as Record<string, unknown>;
}

// Everything below comes from other pods' annotations: escaped before it reaches the terminal.
const address = (i: Instance) => escapeControl(joinHostPort(i.host, i.port));
const meta = (i: Instance) =>
  Object.entries(i.metadata)
    .map(([k, v]) => `${escapeControl(k)}=${escapeControl(v)}`)
    .join(",");
/** The pod an instance comes from (kube-pods ids are `kube-pods:<ns>/<pod>/...`). */
const podOf = (i: Instance): string => escapeControl(i.id.replace(/^kube-pods:/, "").split("/").slice(0, 2).join("/"));

export function instanceTable(instances: readonly Instance[]): string {
  const rows = [["SERVICE", "ADDRESS", "PROTOCOL", "WEIGHT", "READY", "POD", "METADATA"]];
  for (const i of [...instances].sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id))) {
    rows.push([escapeControl(i.service), address(i), escapeControl(i.protocol), String(i.weight), String(i.ready), podOf(i), meta(i)]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ").trimEnd()).join("\n");
}

/** Watch lines: the snapshot is printed as one `added` per instance. */
export function eventLines(ev: RegistryEvent, json: boolean): string[] {
  const items: { type: string; instance: Instance }[] =
    ev.type === "snapshot" ? ev.instances.map((instance) => ({ type: "added", instance })) : [{ type: ev.type, instance: ev.instance }];
  return items.map(({ type, instance }) =>
    json
      ? terminalJson({ type, instance: instanceJson(instance) })
      : `${type.padEnd(8)} ${escapeControl(instance.service)} ${address(instance)} ${escapeControl(instance.protocol)} weight=${instance.weight} pod=${podOf(instance)} ${meta(instance)}`.trimEnd(),
  );
}
