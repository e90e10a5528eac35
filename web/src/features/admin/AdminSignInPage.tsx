// The admin pastes the ADMIN_API_KEY; it is tried on an admin-only read before it is
// kept (lib/adminSession: this tab's sessionStorage only).
import { useState } from "react";
import { ApiError, api, bearer, ok } from "../../api/client";
import { navigate } from "../../app/router";
import { Field } from "../../components/Field";
import { ErrorMessage } from "../../components/Status";
import { text } from "../../i18n/text";
import { signInAdmin } from "../../lib/adminSession";
import { useSubmit } from "../../lib/useSubmit";

export default function AdminSignInPage() {
  const t = text.admin.signIn;
  const [key, setKey] = useState("");
  const { submit, busy: checking, error: failure } = useSubmit(async () => {
    await ok(api.GET("/v1/webhooks/subscriptions", { headers: bearer(key.trim()) }));
    signInAdmin(key.trim());
    navigate("/admin/teams");
  });
  const refused = failure instanceof ApiError && (failure.status === 401 || failure.status === 403);
  const error = refused ? t.wrongKey : failure;
  return (
    <section>
      <h1>{t.title}</h1>
      <form onSubmit={submit} noValidate>
        <p>{t.intro}</p>
        <Field label={t.key} required error={typeof error === "string" ? error : undefined}>
          <input type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} />
        </Field>
        {typeof error === "string" ? null : <ErrorMessage error={error} />}
        <div className="actions">
          <button className="primary" type="submit" disabled={checking || !key.trim()}>
            {checking ? t.checking : t.submit}
          </button>
        </div>
      </form>
    </section>
  );
}
