// A dependency-free SVG line chart for the benchmark report: time on x, one or two series on y.

export interface Series {
  name: string;
  points: Array<[number, number]>;
  color: string;
  /** Plot against the right axis. */
  right?: boolean;
}

const W = 760;
const H = 320;
const M = { l: 70, r: 70, t: 36, b: 40 };

const nice = (max: number) => {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
};

const fmt = (v: number) =>
  v >= 1e6
    ? `${(v / 1e6).toFixed(1)}M`
    : v >= 1e3
      ? `${(v / 1e3).toFixed(v >= 1e4 ? 0 : 1)}k`
      : `${Math.round(v * 100) / 100}`;

export function lineChart(title: string, xLabel: string, series: Series[], yLabel: string, yRightLabel = ''): string {
  const all = series.flatMap((s) => s.points);
  const xMax = nice(Math.max(1, ...all.map((p) => p[0])));
  const yMaxL = nice(Math.max(0, ...series.filter((s) => !s.right).flatMap((s) => s.points.map((p) => p[1]))));
  const yMaxR = nice(Math.max(0, ...series.filter((s) => s.right).flatMap((s) => s.points.map((p) => p[1]))));
  const x = (v: number) => M.l + (v / xMax) * (W - M.l - M.r);
  const y = (v: number, right?: boolean) => H - M.b - (v / (right ? yMaxR : yMaxL)) * (H - M.t - M.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<title>${title}</title>`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${title}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (yMaxL * i) / 5;
    out.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`);
    out.push(`<text x="${M.l - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
    if (series.some((s) => s.right)) {
      const r = (yMaxR * i) / 5;
      out.push(`<text x="${W - M.r + 6}" y="${y(r, true) + 4}">${fmt(r)}</text>`);
    }
    const xv = (xMax * i) / 5;
    out.push(`<text x="${x(xv)}" y="${H - M.b + 16}" text-anchor="middle">${fmt(xv)}</text>`);
  }
  out.push(`<text x="${W / 2}" y="${H - 6}" text-anchor="middle">${xLabel}</text>`);
  out.push(`<text transform="translate(16 ${H / 2}) rotate(-90)" text-anchor="middle">${yLabel}</text>`);
  if (yRightLabel)
    out.push(`<text transform="translate(${W - 12} ${H / 2}) rotate(90)" text-anchor="middle">${yRightLabel}</text>`);
  series.forEach((s, i) => {
    const d = s.points
      .map((p, j) => `${j === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1], s.right).toFixed(1)}`)
      .join('');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`);
    out.push(`<rect x="${M.l + 10 + i * 190}" y="${M.t - 10}" width="12" height="3" fill="${s.color}"/>`);
    out.push(`<text x="${M.l + 26 + i * 190}" y="${M.t - 5}">${s.name}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
