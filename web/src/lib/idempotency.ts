// One Idempotency-Key per request body: a retry or a second click of the same booking
// sends the same key (the API answers with the first booking, never a second one); a
// changed body gets a new key (the API refuses a reused key with another body).

export class IdempotencyKeys {
  private body = "";
  private key = "";

  for(body: unknown): string {
    const serialised = JSON.stringify(body);
    if (serialised !== this.body) {
      this.body = serialised;
      this.key = crypto.randomUUID();
    }
    return this.key;
  }
}
