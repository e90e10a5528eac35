// Sign-in by e-mail link: the address goes to the booking service, which mails a
// specialist a one-time link (the answer is the same for any address).
import { useState, type FormEvent } from "react";
import { api, fieldErrors, ok } from "../../api/client";
import { Field } from "../../components/Field";
import { ErrorMessage } from "../../components/Status";
import { text } from "../../i18n/text";

export default function SignInPage() {
  const t = text.specialist.signIn;
  const [email, setEmail] = useState("");
  const [state, setState] = useState<"idle" | "sending" | "sent">("idle");
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setState("sending");
    setError(null);
    try {
      await ok(api.POST("/v1/auth/sign-in", { body: { email } }));
      setState("sent");
    } catch (failure) {
      setError(failure);
      setState("idle");
    }
  };
  const invalid = fieldErrors(error)["email"];
  return (
    <section>
      <h1>{t.title}</h1>
      {state === "sent" ? (
        <p className="success" role="status">
          {t.sent(email)}
        </p>
      ) : (
        <form onSubmit={(event) => void submit(event)} noValidate>
          <p>{t.intro}</p>
          <Field label={t.email} error={invalid} required>
            <input
              type="email"
              autoComplete="email"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          </Field>
          {invalid ? null : <ErrorMessage error={error} />}
          <div className="actions">
            <button className="primary" type="submit" disabled={state === "sending"}>
              {state === "sending" ? t.sending : t.submit}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
