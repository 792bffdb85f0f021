/**
 * podreg's console: services, one service, xDS clients; live from the
 * server's watch stream. Routes are URL fragments (#/, #/service/<key>,
 * #/xds), so the page is one static file the server hands out as it is.
 */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, ApiError, token } from "./api.js";
import { Announcer, ConfirmDialog, notify, StatusBanner } from "./components.js";
import { store, useStore } from "./store.js";
import { ServiceView } from "./views/service.js";
import { ServicesView } from "./views/services.js";
import { XdsView } from "./views/xds.js";
import "./style.css";

function useRoute(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return hash.replace(/^#/, "") || "/";
}

/** The token for writes: without one the console is read-only, and says so. */
function Access() {
  const s = useStore();
  const [, force] = useState(0);
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | undefined>();
  if (s.status && !s.status.writes) return <p class="access muted">Read-only: this server takes no writes.</p>;
  if (token.get()) {
    return (
      <p class="access">
        Writes enabled with the server's token.{" "}
        <button type="button" onClick={() => (token.clear(), force((n) => n + 1), notify("Signed out: read-only"))}>
          Forget token
        </button>
      </p>
    );
  }
  const submit = async (e: Event) => {
    e.preventDefault();
    token.set(value.trim());
    try {
      await api("GET", "v1/auth", undefined, true);
      setError(undefined);
      setValue("");
      notify("Writes enabled");
    } catch (err) {
      token.clear();
      setError(err instanceof ApiError && err.status === 401 ? "That is not this server's token." : (err as Error).message);
    }
    force((n) => n + 1);
  };
  return (
    <form class="access" onSubmit={(e) => void submit(e)}>
      <span class="muted">Read-only.</span>
      <label>
        Server token
        <input type="password" autoComplete="off" value={value} onInput={(e) => setValue(e.currentTarget.value)} data-testid="token" />
      </label>
      <button type="submit">Enable writes</button>
      {error && (
        <span class="error" role="alert">
          {error}
        </span>
      )}
    </form>
  );
}

function App() {
  const route = useRoute();
  const s = useStore();
  const service = /^\/service\/(.+)$/.exec(route);
  let key: string | undefined;
  try {
    key = service ? decodeURIComponent(service[1]!) : undefined;
  } catch {
    key = undefined;
  }
  return (
    <>
      <header>
        <nav aria-label="Main">
          <a href="#/" class="brand">
            podreg
          </a>
          <a href="#/" aria-current={route === "/" ? "page" : undefined}>
            Services
          </a>
          <a href="#/xds" aria-current={route === "/xds" ? "page" : undefined}>
            xDS clients
          </a>
        </nav>
        <span class={`live ${s.connection}`} data-testid="connection">
          {s.connection === "live" ? `live · revision ${s.revision}` : s.connection}
        </span>
      </header>
      <main>
        <StatusBanner />
        <Access />
        {key !== undefined ? <ServiceView serviceKey={key} /> : route === "/xds" ? <XdsView /> : <ServicesView />}
      </main>
      <ConfirmDialog />
      <Announcer />
    </>
  );
}

store.start();
render(<App />, document.getElementById("app")!);
