import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { TestEnvError } from "./errors.js";

/** The package root: the nearest folder above this file that holds testenv/go. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "testenv", "go", "kube", "go.mod"))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new TestEnvError("PODREG_TESTENV_STATE", "cannot find testenv/go above " + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export interface Versions {
  kube: string;
  etcd: string;
  /** Hash of the wrapper modules' go.mod/go.sum: a change to them invalidates the cache. */
  modulesHash: string;
}

/** Versions come from the wrapper modules' go.mod, the one place they are pinned. */
export function versions(root = packageRoot()): Versions {
  const hash = createHash("sha256");
  const read = (rel: string): string => {
    const text = readFileSync(join(root, "testenv", "go", rel), "utf8");
    hash.update(rel).update(text);
    return text;
  };
  const kubeMod = read("kube/go.mod");
  const etcdMod = read("etcd/go.mod");
  read("kube/go.sum");
  read("etcd/go.sum");
  const kube = /^require k8s\.io\/kubernetes (v\S+)/m.exec(kubeMod)?.[1];
  const etcd = /^require go\.etcd\.io\/etcd\/server\/v3 (v\S+)/m.exec(etcdMod)?.[1];
  if (!kube || !etcd) throw new TestEnvError("PODREG_TESTENV_STATE", "testenv/go/*/go.mod lost its version pins");
  return { kube, etcd, modulesHash: hash.digest("hex").slice(0, 12) };
}

/** The per-user cache (PODREG_TESTENV_CACHE, else XDG_CACHE_HOME or ~/.cache): one folder per build, keyed by version. */
export function cacheBase(env: NodeJS.ProcessEnv = process.env): string {
  return env.PODREG_TESTENV_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "podreg", "testenv");
}

/** The control plane's folder in the per-user cache; test peers live beside it. */
export function cacheDir(v: Versions, env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheBase(env), `kube-${v.kube}_etcd-${v.etcd}_${v.modulesHash}`);
}
