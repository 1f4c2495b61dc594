/** `mixload keygen`: a CURVE key pair for `serve.curve` (service) or a client allow-list entry. */
import { writeKeyPair } from "../serve/exposure.js";

export function keygenCommand(options: { out: string; name: string }): void {
  const { secretFile, publicFile, publicKey } = writeKeyPair(options.out, options.name);
  process.stdout.write(`secret key: ${secretFile} (mode 0600)\npublic key: ${publicFile}\n${publicKey}\n`);
}
