import { describe, expect, it } from 'vitest';
import { ActivityChart, CHART, chartBars } from '../../ui/components/activity-chart';
import { i18n } from '../../ui/i18n';
import type { View } from '../../ui/view';
import { lastDays } from '../../src/storage/activity';
import { kindOfArtifactType } from '../../src/artifacts/manifest-view';

describe('activity chart', () => {
  it('scales bars to the largest count, two per day, inside the chart', () => {
    const bars = chartBars([
      { day: '2026-01-01', pushes: 10, pulls: 5 },
      { day: '2026-01-02', pushes: 0, pulls: 1 },
    ]);
    expect(bars).toHaveLength(4);
    expect(bars.map((b) => [b.kind, b.value])).toEqual([['pushes', 10], ['pulls', 5], ['pushes', 0], ['pulls', 1]]);
    expect(bars[0]!.height).toBe(CHART.height - 1);
    expect(bars[1]!.height).toBeCloseTo((CHART.height - 1) / 2, 1);
    expect(bars[2]!.height).toBe(0);
    expect(bars[3]!.height).toBeGreaterThanOrEqual(1);
    for (const b of bars) {
      expect(b.x).toBeGreaterThanOrEqual(0);
      expect(b.x + b.width).toBeLessThanOrEqual(CHART.width);
      expect(b.y + b.height).toBeCloseTo(CHART.height, 5);
    }
    expect(bars[2]!.x).toBeGreaterThan(bars[1]!.x);
    expect(chartBars([])).toEqual([]);
  });

  it('renders an SVG with a title per day and a table of the same numbers', async () => {
    const v = { i18n: i18n('en'), principal: { kind: 'anonymous' }, csrf: '', here: '/' } as unknown as View;
    const html = String(await ActivityChart({ v, days: [{ day: '2026-01-01', pushes: 3, pulls: 7 }, { day: '2026-01-02', pushes: 0, pulls: 0 }] }));
    expect(html).toContain('<svg');
    expect(html).toContain('<title>2026-01-01: 3 pushes, 7 pulls</title>');
    expect(html).toContain('<title>2026-01-02: 0 pushes, 0 pulls</title>');
    expect(html).toMatch(/<th scope="row">2026-01-01<\/th><td>3<\/td><td>7<\/td>/);
    expect(html).not.toContain('style=');
    expect(html).not.toContain('<script');
  });

  it('names the last days in UTC, oldest first', () => {
    const days = lastDays(Date.parse('2026-03-01T23:59:00Z'), 30);
    expect(days).toHaveLength(30);
    expect(days[29]).toBe('2026-03-01');
    expect(days[0]).toBe('2026-01-31');
  });

  it('tells an OCI 1.1 artifact kind by its artifact type', () => {
    expect(kindOfArtifactType('application/vnd.dev.sigstore.bundle.v0.3+json')).toBe('signature');
    expect(kindOfArtifactType('application/spdx+json')).toBe('sbom');
    expect(kindOfArtifactType('application/vnd.cyclonedx+json')).toBe('sbom');
    expect(kindOfArtifactType('application/vnd.in-toto+json')).toBe('attestation');
    expect(kindOfArtifactType('application/vnd.example.report.v1+json')).toBe('other');
    expect(kindOfArtifactType(null)).toBe('other');
  });
});
