// The specialist's services, each edited in a form of its own and saved with PATCH (only
// the fields changed). The API's refusals show next to the field they name.
import { useState, type FormEvent, type ReactElement } from "react";
import { api, fieldErrors, ok, type Schemas, type Service } from "../../api/client";
import { Field } from "../../components/Field";
import { ErrorMessage } from "../../components/Status";
import { text } from "../../i18n/text";
import { Saved } from "./Saved";
import { SignedIn, type Workspace } from "./SignedIn";

type Update = Schemas["ServiceUpdate"];
type Question = Schemas["Question"];

export default function ServicesPage() {
  return <SignedIn>{(workspace) => <Services {...workspace} />}</SignedIn>;
}

function Services({ services, auth }: Workspace) {
  const t = text.specialist.services;
  return (
    <section>
      <h1>{t.title}</h1>
      {services.length === 0 ? <p>{t.none}</p> : null}
      {services.map((service) => (
        <ServiceForm key={service.id} service={service} auth={auth} />
      ))}
    </section>
  );
}

// Number fields: their key, and whether they may be left empty (no limit).
const NUMBERS: { key: keyof Update & keyof Service; optional?: boolean }[] = [
  { key: "duration_minutes" },
  { key: "slot_interval_minutes", optional: true },
  { key: "buffer_before_minutes" },
  { key: "buffer_after_minutes" },
  { key: "minimum_notice_minutes" },
  { key: "max_advance_days" },
  { key: "max_per_day", optional: true },
  { key: "cancellation_hours" },
  { key: "waiting_room_minutes" },
];

function ServiceForm({ service: loaded, auth }: { service: Service; auth: { Authorization: string } }) {
  const t = text.specialist.services;
  // The service as last saved: the PATCH answers it whole.
  const [service, setService] = useState(loaded);
  const [draft, setDraft] = useState<Record<string, unknown>>({});
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const value = <K extends keyof Service>(key: K): unknown => (key in draft ? draft[key] : service[key]);
  // A field's value as its input shows it ("" for none).
  const shown = (key: keyof Service): string => {
    const v = value(key);
    return typeof v === "string" || typeof v === "number" ? String(v) : "";
  };
  const label = (key: string): string => t.fields[key] ?? key;
  const set = (key: string, v: unknown) => {
    setSaved(false);
    setDraft((d) => ({ ...d, [key]: v }));
  };
  const errors = fieldErrors(error);
  const save = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      const changed = await ok(
        api.PATCH("/v1/services/{service_id}", {
          params: { path: { service_id: service.id } },
          headers: auth,
          body: draft,
        }),
      );
      setService(changed);
      setDraft({});
      setSaved(true);
    } catch (failure) {
      setError(failure);
    }
  };
  const questions = (value("questions") as Question[] | undefined) ?? [];
  const setQuestion = (i: number, change: Partial<Question>) =>
    set("questions", questions.map((q, j) => (j === i ? { ...q, ...change } : q)));
  const field = (key: string, label: string, control: ReactElement<Record<string, unknown>>) => (
    <Field label={label} error={errors[key]}>
      {control}
    </Field>
  );
  const headingId = `service-${service.id}`;
  return (
    <form className="panel service-form" onSubmit={(event) => void save(event)} noValidate aria-labelledby={headingId}>
      <h2 id={headingId}>{service.name}</h2>
      {field(
        "name",
        label("name"),
        <input value={shown("name")} onChange={(e) => set("name", e.target.value)} />,
      )}
      <div className="numbers">
        {NUMBERS.map(({ key, optional }) => {
          return (
            <div key={key}>
              {field(
                key,
                label(key),
                <input
                  type="number"
                  inputMode="numeric"
                  value={shown(key)}
                  placeholder={optional ? t.noLimit : undefined}
                  onChange={(e) =>
                    set(key, e.target.value === "" ? (optional ? null : e.target.value) : Number(e.target.value))
                  }
                />,
              )}
            </div>
          );
        })}
      </div>
      <label className="check">
        <input
          type="checkbox"
          checked={Boolean(value("requires_approval"))}
          onChange={(e) => set("requires_approval", e.target.checked)}
        />
        {label("requires_approval")}
      </label>
      <div className="numbers">
        {field(
          "price",
          label("price"),
          <input
            inputMode="decimal"
            value={shown("price")}
            onChange={(e) => set("price", e.target.value === "" ? null : e.target.value)}
          />,
        )}
        {field(
          "currency",
          label("currency"),
          <input
            value={shown("currency")}
            maxLength={3}
            onChange={(e) => set("currency", e.target.value === "" ? null : e.target.value.toUpperCase())}
          />,
        )}
        {field(
          "recording",
          label("recording"),
          <select value={shown("recording") || "off"} onChange={(e) => set("recording", e.target.value)}>
            <option value="off">{t.recording.off}</option>
            <option value="optional">{t.recording.optional}</option>
            <option value="required">{t.recording.required}</option>
          </select>,
        )}
      </div>
      <fieldset>
        <legend>{t.questions}</legend>
        {questions.length === 0 ? <p className="muted">{t.noQuestions}</p> : null}
        {questions.map((q, i) => (
          <div className="window" key={i}>
            {field(`questions.${i}.label`, t.questionLabel(i + 1), <input value={q.label} onChange={(e) => setQuestion(i, { label: e.target.value })} />)}
            {field(
              `questions.${i}.type`,
              t.questionType(i + 1),
              <select value={q.type} onChange={(e) => setQuestion(i, { type: e.target.value as Question["type"] })}>
                <option value="text">{t.types.text}</option>
                <option value="textarea">{t.types.textarea}</option>
                <option value="select">{t.types.select}</option>
              </select>,
            )}
            {q.type === "select"
              ? field(
                  `questions.${i}.options`,
                  t.questionOptions(i + 1),
                  <input
                    value={(q.options ?? []).join(", ")}
                    onChange={(e) => setQuestion(i, { options: e.target.value.split(",").map((o) => o.trim()).filter(Boolean) })}
                  />,
                )
              : null}
            <label className="check">
              <input type="checkbox" checked={q.required} onChange={(e) => setQuestion(i, { required: e.target.checked })} />
              {t.questionRequired(i + 1)}
            </label>
            <button type="button" onClick={() => set("questions", questions.filter((_, j) => j !== i))}>
              {t.removeQuestion(i + 1)}
            </button>
          </div>
        ))}
        <button
          type="button"
          onClick={() =>
            set("questions", [...questions, { key: `q${Date.now().toString(36)}`, label: "", type: "text", required: false }])
          }
        >
          {t.addQuestion}
        </button>
      </fieldset>
      {Object.keys(errors).length > 0 ? null : <ErrorMessage error={error} />}
      <div className="actions">
        <button className="primary" type="submit" disabled={Object.keys(draft).length === 0}>
          {t.save(service.name)}
        </button>
        <Saved shown={saved} label={t.saved} />
      </div>
    </form>
  );
}
