// The client's answers and details for one chosen slot, booked in one request that
// carries an Idempotency-Key (a double click or a retry never books twice).
import { useRef, useState, type FormEvent } from "react";
import { ApiError, api, fieldErrors, ok, type BookingCreated, type Service, type Slot } from "../../api/client";
import { Field } from "../../components/Field";
import { ErrorMessage } from "../../components/Status";
import { TimeZoneField } from "../../components/TimeZoneField";
import * as format from "../../i18n/format";
import { text } from "../../i18n/text";
import { IdempotencyKeys } from "../../lib/idempotency";

interface BookingFormProps {
  service: Service;
  slot: Slot;
  zone: string;
  hour12: boolean;
  onBooked: (booking: BookingCreated) => void;
  /** The slot is no longer free (409): the page shows fresh slots. */
  onTaken: (message: string) => void;
}

export function BookingForm({ service, slot, zone, hour12, onBooked, onTaken }: BookingFormProps) {
  const [client, setClient] = useState({ name: "", email: "", phone: "", timezone: zone });
  const [answers, setAnswers] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const questions = service.questions ?? [];
  const keys = useRef(new IdempotencyKeys());
  const inFlight = useRef(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    // A second click while the first is on its way is the same booking: it waits.
    if (inFlight.current) return;
    const missing = Object.fromEntries(
      questions
        .filter((q) => q.required && !(answers[q.key] ?? "").trim())
        .map((q) => [`answers.${q.key}`, text.booking.answerRequired]),
    );
    setErrors(missing);
    setFailure(null);
    if (Object.keys(missing).length > 0) return;
    const body = {
      service_id: service.id,
      starts_at: slot.start,
      client: {
        name: client.name.trim(),
        email: client.email.trim(),
        timezone: client.timezone,
        ...(client.phone.trim() ? { phone: client.phone.trim() } : {}),
      },
      answers: Object.fromEntries(Object.entries(answers).filter(([, v]) => v.trim())),
    };
    inFlight.current = true;
    setBusy(true);
    try {
      const booking = await ok(
        api.POST("/v1/bookings", { body, headers: { "Idempotency-Key": keys.current.for(body) } }),
      );
      onBooked(booking);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) {
        onTaken(error.code === "day_full" ? text.booking.dayFull : text.booking.slotTaken);
      } else {
        const fields = fieldErrors(error);
        setErrors(fields);
        if (Object.keys(fields).length === 0) setFailure(error);
      }
    } finally {
      inFlight.current = false;
      setBusy(false);
    }
  };

  return (
    <form className="booking-form" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="form-title">
      <h2 id="form-title">{text.booking.selected(format.dateTime(slot.start, zone, hour12))}</h2>
      {questions.length > 0 ? (
        <fieldset>
          <legend>{text.booking.questions}</legend>
          {questions.map((question) => {
            const value = answers[question.key] ?? "";
            const set = (v: string) => setAnswers({ ...answers, [question.key]: v });
            const error = errors[`answers.${question.key}`];
            return (
              <Field key={question.key} label={question.label} required={question.required} error={error}>
                {question.type === "textarea" ? (
                  <textarea value={value} onChange={(e) => set(e.target.value)} rows={3} />
                ) : question.type === "select" ? (
                  <select value={value} onChange={(e) => set(e.target.value)}>
                    <option value="">{text.booking.choose}</option>
                    {(question.options ?? []).map((option) => (
                      <option key={option}>{option}</option>
                    ))}
                  </select>
                ) : (
                  <input type="text" value={value} onChange={(e) => set(e.target.value)} />
                )}
              </Field>
            );
          })}
        </fieldset>
      ) : null}
      <fieldset>
        <legend>{text.booking.details}</legend>
        <Field label={text.booking.name} required error={errors["client.name"]}>
          <input
            type="text"
            autoComplete="name"
            value={client.name}
            onChange={(e) => setClient({ ...client, name: e.target.value })}
          />
        </Field>
        <Field label={text.booking.email} required error={errors["client.email"]}>
          <input
            type="email"
            autoComplete="email"
            value={client.email}
            onChange={(e) => setClient({ ...client, email: e.target.value })}
          />
        </Field>
        <TimeZoneField
          label={text.booking.clientZone}
          value={client.timezone}
          onChange={(timezone) => setClient({ ...client, timezone })}
        />
        {errors["client.timezone"] ? <p className="error">{errors["client.timezone"]}</p> : null}
        <Field label={text.booking.phone} error={errors["client.phone"]}>
          <input
            type="tel"
            autoComplete="tel"
            value={client.phone}
            onChange={(e) => setClient({ ...client, phone: e.target.value })}
          />
        </Field>
      </fieldset>
      <div className="actions">
        <button type="submit" className="primary" aria-disabled={busy}>
          {busy ? text.booking.submitting : text.booking.submit}
        </button>
        <ErrorMessage error={failure} />
      </div>
    </form>
  );
}
