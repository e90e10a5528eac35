/** A form's "saved" note, announced to assistive technology when it appears. */
export function Saved({ shown, label }: { shown: boolean; label: string }) {
  return shown ? (
    <span className="success" role="status">
      {label}
    </span>
  ) : null;
}
