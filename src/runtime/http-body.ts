import type { IncomingMessage } from "node:http";

/** Local servers (sandbox, API stand-ins) never need more; a bigger body is refused, not buffered. */
export const MAX_BODY = 16 * 1024 * 1024;

/** The request body as text, refusing more than `max` bytes. */
export function readBody(req: IncomingMessage, max = MAX_BODY): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        reject(new Error("request body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
