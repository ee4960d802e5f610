/**
 * The two calls of the WAL's write path, `write` (positional, gathering) and `fdatasync`, both async on the
 * libuv threadpool. Injectable so that tests can count syncs per batch or make a disk fail.
 */
import { fdatasync, writev } from 'node:fs';

export interface WalFileIo {
  /** Writes every byte of `buffers`, in order, at `position` of `fd`. */
  write(fd: number, buffers: readonly Buffer[], position: number): Promise<void>;
  /** Makes the data written to `fd` durable. */
  fdatasync(fd: number): Promise<void>;
}

function writeAll(fd: number, buffers: readonly Buffer[], position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    writev(fd, buffers as Buffer[], position, (error, written) => {
      if (error) return reject(error);
      let total = 0;
      for (const b of buffers) total += b.length;
      if (written === total) return resolve();
      // A short write (rare on a regular file): write the rest.
      writeAll(fd, rest(buffers, written), position + written).then(resolve, reject);
    });
  });
}

function rest(buffers: readonly Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    out.push(skip > 0 ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}

export const defaultFileIo: WalFileIo = {
  write: writeAll,
  fdatasync: (fd) =>
    new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve()))),
};
