// The admin pages' frame: the admin key of this tab as an Authorization header, or the
// way to sign in. The API checks the key on every request; this only routes.
import type { ReactNode } from "react";
import { bearer } from "../../api/client";
import { Link } from "../../app/router";
import { text } from "../../i18n/text";
import { useAdminKey } from "../../lib/adminSession";

export function AdminOnly({ children }: { children: (auth: { Authorization: string }) => ReactNode }) {
  const key = useAdminKey();
  if (key === null) {
    return (
      <section>
        <h1>{text.admin.signIn.title}</h1>
        <p>{text.admin.signIn.needed}</p>
        <Link href="/admin/sign-in">{text.admin.signIn.title}</Link>
      </section>
    );
  }
  return <>{children(bearer(key))}</>;
}
