import type { FC } from 'hono/jsx';
import type { View } from '../view';

/**
 * Pushes and pulls per day as bars, drawn on the server as inline SVG (no script, no styles beyond
 * presentation attributes), each day with a <title>, and the same numbers as a table for screen readers.
 */

export interface DayCounts {
  day: string;
  pushes: number;
  pulls: number;
}

export interface Bar {
  day: string;
  kind: 'pushes' | 'pulls';
  value: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

export const CHART = { width: 600, height: 160, padding: 4, gap: 1 } as const;

/** The bars of a chart: two per day (pushes, then pulls), scaled to the largest count, a 1-unit bar for none. */
export function chartBars(days: readonly DayCounts[], size: { width: number; height: number } = CHART): Bar[] {
  if (days.length === 0) return [];
  const max = Math.max(1, ...days.map((d) => Math.max(d.pushes, d.pulls)));
  const slot = size.width / days.length;
  const barWidth = Math.max(1, (slot - CHART.padding) / 2 - CHART.gap);
  const usable = size.height - 1;
  const round = (n: number) => Math.round(n * 100) / 100;
  return days.flatMap((d, i) =>
    (['pushes', 'pulls'] as const).map((kind, k) => {
      const value = d[kind];
      const height = value === 0 ? 0 : Math.max(1, (value / max) * usable);
      return { day: d.day, kind, value, x: round(i * slot + CHART.padding / 2 + k * (barWidth + CHART.gap)), y: round(size.height - height), width: round(barWidth), height: round(height) };
    }),
  );
}

const COLORS = { pushes: '#2563eb', pulls: '#16a34a' } as const;

export const ActivityChart: FC<{ v: View; days: DayCounts[] }> = ({ v, days }) => {
  const { t } = v.i18n;
  const bars = chartBars(days);
  const total = days.reduce((n, d) => ({ pushes: n.pushes + d.pushes, pulls: n.pulls + d.pulls }), { pushes: 0, pulls: 0 });
  const summary = t('storage.chartSummary', { days: days.length, pushes: total.pushes, pulls: total.pulls });
  return (
    <figure class="activity-chart">
      <svg
        xmlns="http://www.w3.org/2000/svg"
        viewBox={`0 0 ${CHART.width} ${CHART.height}`}
        width="100%"
        height={CHART.height}
        preserveAspectRatio="none"
        role="img"
        aria-label={summary}
      >
        <line x1="0" y1={CHART.height - 0.5} x2={CHART.width} y2={CHART.height - 0.5} stroke="#98a2b3" stroke-width="1" />
        {days.map((d, i) => (
          <g>
            <title>{t('storage.dayTitle', { day: d.day, pushes: d.pushes, pulls: d.pulls })}</title>
            {bars.slice(i * 2, i * 2 + 2).map((b) => (
              <rect x={b.x} y={b.y} width={b.width} height={b.height} fill={COLORS[b.kind]} data-kind={b.kind} data-value={b.value} />
            ))}
          </g>
        ))}
      </svg>
      <figcaption class="muted small-text">
        {t('storage.legend')} {summary}
      </figcaption>
      <table class="visually-hidden">
        <caption>{summary}</caption>
        <thead>
          <tr>
            <th scope="col">{t('storage.day')}</th>
            <th scope="col">{t('storage.pushes')}</th>
            <th scope="col">{t('storage.pulls')}</th>
          </tr>
        </thead>
        <tbody>
          {days.map((d) => (
            <tr>
              <th scope="row">{d.day}</th>
              <td>{d.pushes}</td>
              <td>{d.pulls}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
};
