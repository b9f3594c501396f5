/** An error meant for the user: message is already clear and safe to print (no secrets). */
export class UserError extends Error {
  override name = "UserError";
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}
