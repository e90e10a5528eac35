// The sign-in link's target: the code comes in the fragment (never sent to a server),
// is taken out of the address bar at once, and traded once for the specialist's JWT.
import { useEffect, useState } from "react";
import { api, ApiError, ok } from "../../api/client";
import { Link, navigate } from "../../app/router";
import { ErrorMessage, Loading } from "../../components/Status";
import { text } from "../../i18n/text";
import { signIn } from "../../lib/session";

// One exchange per code, even when an effect runs twice (a code works only once).
const exchanges = new Map<string, Promise<{ token: string; expires_at: string }>>();

function exchange(code: string) {
  let pending = exchanges.get(code);
  if (!pending) {
    pending = ok(api.POST("/v1/auth/sign-in/verify", { body: { code } }));
    exchanges.set(code, pending);
  }
  return pending;
}

function codeInFragment(): string | null {
  return new URLSearchParams(globalThis.location.hash.slice(1)).get("code");
}

export default function VerifyPage() {
  const t = text.specialist.signIn;
  const [code] = useState(codeInFragment);
  const [error, setError] = useState<unknown>(code ? null : t.noCode);
  useEffect(() => {
    if (!code) return;
    globalThis.history.replaceState(globalThis.history.state, "", globalThis.location.pathname);
    let current = true;
    exchange(code).then(
      (signed) => {
        signIn(signed.token, signed.expires_at);
        if (current) navigate("/dashboard", { replace: true });
      },
      (failure: unknown) => {
        if (!current) return;
        const refused = failure instanceof ApiError && failure.code === "invalid_code";
        setError(refused ? t.invalid : failure);
      },
    );
    return () => {
      current = false;
    };
  }, [code, t]);
  return (
    <section>
      <h1>{t.title}</h1>
      {error === null ? (
        <Loading label={t.verifying} />
      ) : (
        <>
          <ErrorMessage error={error} />
          <Link href="/sign-in">{t.again}</Link>
        </>
      )}
    </section>
  );
}
