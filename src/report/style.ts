/** The report's stylesheet, inlined into the page (no external fonts or files). */
export const REPORT_CSS = `
:root { --fg: #1f2933; --muted: #616e7c; --line: #d9e2ec; --bg: #ffffff; --panel: #f5f7fa; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; word-break: break-word; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 16px 0 6px; }
p { margin: 6px 0; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 140px; }
.card .value { font-size: 22px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 12px; }
.verdict { border-radius: 8px; padding: 12px 16px; margin: 12px 0; border: 1px solid; }
.verdict .badge { display: inline-block; font-weight: 700; font-size: 15px; padding: 2px 10px; border-radius: 999px; color: #fff; margin-right: 8px; }
.verdict.helps { background: #ecfdf3; border-color: #86efac; } .verdict.helps .badge { background: #15803d; }
.verdict.little { background: #fffbeb; border-color: #fcd34d; } .verdict.little .badge { background: #b45309; }
.verdict.no { background: #fef2f2; border-color: #fca5a5; } .verdict.no .badge { background: #b91c1c; }
.verdict.other { background: var(--panel); border-color: var(--line); } .verdict.other .badge { background: #52606d; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; font-variant-numeric: tabular-nums; }
th { font-weight: 600; background: var(--panel); }
th.label, td.label { text-align: left; max-width: 260px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
table.wrap td.label { white-space: normal; max-width: none; }
tr.chosen td { background: #eff6ff; font-weight: 600; }
table.confusion td.cell { width: 56px; min-width: 44px; text-align: center; border: 1px solid #fff; }
table.confusion th.corner { font-weight: 400; color: var(--muted); font-size: 12px; text-align: left; }
table.confusion th.pred { writing-mode: vertical-rl; transform: rotate(180deg); text-align: left; max-height: 160px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.scroll { overflow-x: auto; }
.chart { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.chart .grid { stroke: #e4e7eb; stroke-width: 1; }
.chart .axis { stroke: #7b8794; fill: none; stroke-width: 1; }
.chart .tick, .chart .legend { font-size: 11px; fill: #52606d; }
.chart .axis-label { font-size: 12px; fill: #3e4c59; }
.chart .series { fill: none; stroke-width: 2.2; stroke-linejoin: round; stroke-linecap: round; }
.chart .band { opacity: 0.16; stroke: none; }
.chart .marker-label, .chart .threshold-label { font-size: 11px; }
.chart .whisker { stroke: #7b8794; stroke-width: 2; }
.chart .box { fill: #bfdbfe; stroke: #2563eb; }
.chart .median { stroke: #1e3a8a; stroke-width: 2; }
.chart .quantile { fill: #1e3a8a; }
.chart .threshold { stroke: #dc2626; stroke-width: 2; stroke-dasharray: 5 3; }
.chart .threshold-label { fill: #dc2626; }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 8px 24px; align-items: start; }
.groups { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 8px; }
.group { border: 1px solid var(--line); border-radius: 8px; padding: 6px 10px 8px; max-width: 100%; }
.group h3 { margin: 0 0 6px; font-size: 13px; max-width: 480px; overflow-wrap: anywhere; }
.thumbs { display: flex; flex-wrap: wrap; gap: 8px; }
.thumb { width: 88px; margin: 0; font-size: 11px; line-height: 1.25; }
.thumb img, .thumb .missing { width: 64px; height: 64px; display: block; border-radius: 4px; border: 1px solid var(--line); object-fit: cover; }
.thumb .missing { background: var(--panel); color: var(--muted); display: flex; align-items: center; justify-content: center; font-size: 10px; text-align: center; }
.thumb figcaption { margin-top: 3px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.thumb .prob { color: #b91c1c; font-weight: 600; }
.snippets { list-style: none; margin: 0; padding: 0; display: grid; gap: 6px; max-width: 640px; }
.snippet { border-left: 3px solid var(--line); padding: 2px 8px; }
.snippet .text { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.snippet .text.missing { color: var(--muted); font-style: italic; }
.snippet .prob { color: #b91c1c; font-weight: 600; }
details { margin: 8px 0; }
summary { cursor: pointer; color: var(--accent); }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
@media print { main { max-width: none; } h2 { break-after: avoid; } }
`;
