/** A failure of the `nft` binary, with what it printed. */
export class NftError extends Error {
  override name = "NftError";
  constructor(
    message: string,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
