import { describe, expect, it } from 'vitest';
import { exitReason } from '../../src/registry/supervisor';

/** A failed start reports the registry's own reason, not a generic timeout. */
describe('exitReason', () => {
  it('takes the last fatal or panic message of the text and JSON log formats', () => {
    expect(
      exitReason([
        'time="t" level=info msg="redis not configured"',
        'time="t" level=fatal msg="listen tcp 127.0.0.1:5000: bind: address already in use"',
      ]),
    ).toBe('listen tcp 127.0.0.1:5000: bind: address already in use');
    expect(exitReason(['{"level":"fatal","msg":"open \\"/x\\": permission denied","time":"t"}'])).toBe('open "/x": permission denied');
    expect(exitReason(['starting', 'panic: runtime error: invalid memory address', 'goroutine 1 [running]:'])).toBe(
      'panic: runtime error: invalid memory address',
    );
  });

  it('falls back to the last lines, or says there was no output', () => {
    expect(exitReason(['a', 'b', 'c', 'd'])).toBe('b | c | d');
    expect(exitReason([])).toBe('no output');
  });
});
