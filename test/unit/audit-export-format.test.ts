import { describe, expect, it } from 'vitest';
import { csvCell, exportFileName, textStream } from '../../src/audit/export-format';

describe('audit export encoding', () => {
  it('escapes cells a spreadsheet would run as formulas, and quotes by RFC 4180', () => {
    expect(csvCell("=cmd|' /C calc'!A0")).toBe("'=cmd|' /C calc'!A0");
    expect(csvCell('+1')).toBe("'+1");
    expect(csvCell('-1')).toBe("'-1");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('\tx')).toBe("'\tx");
    expect(csvCell('\rx')).toBe(`"'\rx"`);
    expect(csvCell('=1,2')).toBe(`"'=1,2"`);
    expect(csvCell('a"b')).toBe('"a""b"');
    expect(csvCell('a\nb')).toBe('"a\nb"');
    expect(csvCell('plain a=b')).toBe('plain a=b');
    expect(csvCell(null)).toBe('');
    expect(csvCell(-1)).toBe('-1');
  });

  it('names the file by UTC time', () => {
    expect(exportFileName('csv', Date.parse('2030-06-15T12:03:04.567Z'))).toBe('wharf-audit-20300615T120304Z.csv');
  });

  it('reads a batch only when the consumer wants one, and none after a cancel', async () => {
    let reads = 0;
    const stream = textStream('head\n', async () => `batch ${++reads}\n`, () => {});
    const reader = stream.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('head\n');
    await new Promise((r) => setTimeout(r, 20));
    // One batch read ahead at most.
    expect(reads).toBeLessThanOrEqual(1);
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('batch 1\n');
    await reader.cancel();
    const seen = reads;
    await new Promise((r) => setTimeout(r, 20));
    expect(reads).toBe(seen);
  });

  it('ends when the batches end, and errors the stream when a read fails', async () => {
    const texts = ['a', 'b'];
    const all = await new Response(textStream('', async () => texts.shift() ?? null, () => {})).text();
    expect(all).toBe('ab');
    const errors: unknown[] = [];
    const failing = textStream('x', () => Promise.reject(new Error('database gone')), (e) => errors.push(e));
    await expect(new Response(failing).text()).rejects.toThrow('database gone');
    expect(errors).toHaveLength(1);
  });
});
