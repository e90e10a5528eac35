// The specialist pages' frame: their session (or a way to sign in), and what every one of
// them reads first, their profile (name, zone, hours) and services. Every request carries
// their JWT and names only their own id: the API refuses anything else.
import type { ReactNode } from "react";
import { api, bearer, ok, type Service, type Specialist } from "../../api/client";
import { Link } from "../../app/router";
import { ErrorMessage, Loading } from "../../components/Status";
import { text } from "../../i18n/text";
import { useSession, type SpecialistSession } from "../../lib/session";
import { useAsync } from "../../lib/useAsync";

export interface Workspace {
  session: SpecialistSession;
  auth: { Authorization: string };
  specialist: Specialist;
  services: Service[];
  reload: () => void;
}

export function SignedIn({ children }: { children: (workspace: Workspace) => ReactNode }) {
  const session = useSession();
  if (session === null) {
    return (
      <section>
        <h1>{text.specialist.signIn.title}</h1>
        <p>{text.specialist.signIn.needed}</p>
        <Link href="/sign-in">{text.specialist.signIn.title}</Link>
      </section>
    );
  }
  return <Loaded session={session}>{children}</Loaded>;
}

function Loaded({
  session,
  children,
}: {
  session: SpecialistSession;
  children: (workspace: Workspace) => ReactNode;
}) {
  const id = session.specialistId;
  const [loaded, reload] = useAsync(
    async () => {
      const [specialist, services] = await Promise.all([
        ok(api.GET("/v1/specialists/{specialist_id}", { params: { path: { specialist_id: id } } })),
        ok(api.GET("/v1/services", { params: { query: { specialist_id: id } } })),
      ]);
      return { specialist, services: services.services };
    },
    [id],
  );
  if (loaded.state === "loading") return <Loading />;
  if (loaded.state === "failed") {
    return (
      <ErrorMessage error={loaded.error}>
        <button type="button" onClick={reload}>
          {text.app.retry}
        </button>
      </ErrorMessage>
    );
  }
  return <>{children({ session, auth: bearer(session.token), ...loaded.value, reload })}</>;
}
