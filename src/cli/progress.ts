/** Progress on a terminal (one rewritten line on stderr); silent when stderr is not one. */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): { update(text: string): void; done(): void } {
  const tty = stream.isTTY === true;
  let shown = false;
  return {
    update(text) {
      if (!tty) return;
      stream.write(`\r\x1b[K${text}`);
      shown = true;
    },
    done() {
      if (tty && shown) stream.write('\r\x1b[K');
    },
  };
}
