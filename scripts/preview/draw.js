/*
 * scripts/preview/draw.js - drawing for the cellucidfs preview page (preview.js): the cells of
 * the embedding shown, as dots of their colouring's colours on the canvas, with centroid labels,
 * and the colourings themselves (a palette per category, a ramp for values, grey for none).
 * 1-D and 2-D embeddings are fitted to the canvas; 3-D ones are an orthographic view that the
 * user rotates by dragging (state.rotation). Reads state, writes only the canvas:
 *
 *   render()           draw now (after a new embedding, colouring or canvas size)
 *   requestRender()    draw at the next animation frame (while rotating)
 *   padToXYZ, bounds   what preview.js keeps per embedding
 *   categoricalColouring, continuousColouring, uniformColouring   what showColouring() shows
 */
'use strict';

const MAX_LABELS = 40;    // centroid labels are drawn for fields with at most this many categories

const PALETTE = [
	'#3b7dd8', '#f08a24', '#2ca25f', '#d7263d', '#8e6cc7', '#8c564b', '#e377c2', '#17becf',
	'#bcbd22', '#1b3a6b', '#ff9f80', '#66c2a5', '#a6761d', '#f7b6d2', '#6b8e23', '#ffd92f',
	'#7570b3', '#b15928', '#00a6a6', '#c51b7d', '#80b1d3', '#5e3c99', '#fdb462', '#b3de69',
];
const RAMP = ['#440154', '#414487', '#2a788e', '#22a884', '#7ad151', '#fde725'];
const RAMP_LUT = rampLut(RAMP);
const MISSING_RGB = [207, 211, 218];
const MISSING = packRgb(MISSING_RGB);

/* ---------- colourings ---------- */

function categoricalColouring(field, codes) {
	const rgb = field.categories.map((_, c) => categoryRgb(c));
	const packed = rgb.map(packRgb);
	const counts = new Array(rgb.length).fill(0);
	const colours = new Uint32Array(codes.length);
	let missing = 0;
	for (let i = 0; i < codes.length; i++) {
		const code = codes[i];
		if (code < packed.length) {
			colours[i] = packed[code];
			counts[code]++;
		} else {
			colours[i] = MISSING;
			missing++;
		}
	}
	const items = field.categories.map((name, c) => ({ name, rgb: rgb[c], count: counts[c] }));
	const centroids = field.categories.length <= MAX_LABELS ? field.centroids : null;
	return makeColouring(colours, { kind: 'category', title: field.key, items, missing }, centroids);
}

function continuousColouring(title, values) {
	let min = Infinity, max = -Infinity, missing = 0;
	for (const v of values) {
		if (!Number.isFinite(v)) {
			missing++;
		} else {
			min = Math.min(min, v);
			max = Math.max(max, v);
		}
	}
	const span = max > min ? max - min : 1;
	const colours = new Uint32Array(values.length);
	for (let i = 0; i < values.length; i++) {
		const v = values[i];
		colours[i] = Number.isFinite(v) ? RAMP_LUT[Math.round((v - min) / span * 255)] : MISSING;
	}
	return makeColouring(colours, { kind: 'continuous', title, min, max, missing });
}

function uniformColouring() {
	const colours = new Uint32Array(state.nCells).fill(packRgb(categoryRgb(0)));
	return makeColouring(colours, { kind: 'category', title: 'cells', items: [], missing: 0 });
}

// Adds what drawing needs: a darker rim colour per cell and a drawing order with the cells
// that have no value first, so that they never hide coloured ones in 2-D.
function makeColouring(colours, legend, centroids = null) {
	const rimOf = new Map();
	const rims = colours.map(c => {
		if (!rimOf.has(c)) rimOf.set(c, packRgb(unpackRgb(c).map(v => Math.round(v * 0.78))));
		return rimOf.get(c);
	});
	const order = new Uint32Array(colours.length);
	let k = 0;
	colours.forEach((c, i) => { if (c === MISSING) order[k++] = i; });
	colours.forEach((c, i) => { if (c !== MISSING) order[k++] = i; });
	return { colours, rims, order, legend, centroids };
}

function categoryRgb(c) {
	if (c < PALETTE.length) return hexRgb(PALETTE[c]);
	return hslRgb((c * 137.508) % 360, 0.62, c % 2 ? 0.42 : 0.58);  // golden-angle hues past the palette
}

function hexRgb(hex) {
	const v = parseInt(hex.slice(1), 16);
	return [v >> 16, (v >> 8) & 255, v & 255];
}

function hslRgb(h, s, l) {
	const a = s * Math.min(l, 1 - l);
	const channel = n => {
		const k = (n + h / 30) % 12;
		return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
	};
	return [channel(0), channel(8), channel(4)];
}

// ImageData bytes are R,G,B,A in memory, so on a little-endian host a pixel is 0xAABBGGRR.
function packRgb([r, g, b]) {
	return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
}

function unpackRgb(c) {
	return [c & 255, (c >> 8) & 255, (c >> 16) & 255];
}

function rampLut(stops) {
	const rgb = stops.map(hexRgb);
	return Uint32Array.from({ length: 256 }, (_, k) => {
		const t = k / 255 * (rgb.length - 1);
		const s = Math.min(Math.floor(t), rgb.length - 2), f = t - s;
		return packRgb(rgb[s].map((v, j) => Math.round(v + (rgb[s + 1][j] - v) * f)));
	});
}

/* ---------- drawing ---------- */

// Pad an n x dim embedding to n x 3 (absent axes 0); a 1-D embedding gets a deterministic
// vertical jitter of 10% of its width so that its cells form a readable strip.
function padToXYZ(coords, dim) {
	const n = coords.length / dim;
	const xyz = new Float32Array(n * 3);
	for (let i = 0; i < n; i++) for (let a = 0; a < dim; a++) xyz[i * 3 + a] = coords[i * dim + a];
	if (dim === 1) {
		let lo = Infinity, hi = -Infinity;
		for (const x of coords) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
		const height = 0.1 * (hi - lo || 1);
		for (let i = 0; i < n; i++) xyz[i * 3 + 1] = height * ((Math.imul(i, 2654435761) >>> 0) / 2 ** 32 - 0.5);
	}
	return xyz;
}

// Centre, half extents and radius of the cells: fixed per embedding, so rotating does not rescale.
function bounds(xyz) {
	const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
	for (let i = 0; i < xyz.length; i += 3) {
		for (let a = 0; a < 3; a++) {
			lo[a] = Math.min(lo[a], xyz[i + a]);
			hi[a] = Math.max(hi[a], xyz[i + a]);
		}
	}
	const centre = lo.map((v, a) => (v + hi[a]) / 2);
	const half = lo.map((v, a) => Math.max((hi[a] - v) / 2, 1e-9));
	let radius = 1e-9;
	for (let i = 0; i < xyz.length; i += 3) {
		radius = Math.max(radius, Math.hypot(xyz[i] - centre[0], xyz[i + 1] - centre[1], xyz[i + 2] - centre[2]));
	}
	return { centre, half, radius };
}

// 2-D and 1-D: x,y fitted to the canvas with the aspect ratio kept. 3-D: an orthographic view
// rotated by yaw (about y) then pitch (about x), the bounding sphere fitted to the canvas.
function makeView({ centre, half, radius }, dim, w, h) {
	const fit = dim === 3 ? Math.min(w, h) / (2 * radius) : Math.min(w / (2 * half[0]), h / (2 * half[1]));
	return { m: dim === 3 ? rotationMatrix(state.rotation) : [1, 0, 0, 0, 1, 0, 0, 0, 1], scale: 0.92 * fit, centre, cx: w / 2, cy: h / 2 };
}

function rotationMatrix({ yaw, pitch }) {
	const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
	return [cy, 0, sy, sp * sy, cp, -sp * cy, -cp * sy, sp, cp * cy];
}

// Screen x, y and depth (larger is nearer) of one point, written to out[0..2].
function project(view, x, y, z, out) {
	const { m, scale, centre } = view;
	const px = x - centre[0], py = y - centre[1], pz = z - centre[2];
	out[0] = view.cx + scale * (m[0] * px + m[1] * py + m[2] * pz);
	out[1] = view.cy - scale * (m[3] * px + m[4] * py + m[5] * pz);
	out[2] = m[6] * px + m[7] * py + m[8] * pz;
}

// Pixel offsets of one dot: [dx, dy, rim] triples, rim = 1 on its outer ring.
function dotStamp(r) {
	const stamp = [];
	for (let dy = -r; dy <= r; dy++) {
		for (let dx = -r; dx <= r; dx++) {
			const d = Math.hypot(dx, dy);
			if (d <= r + 0.5) stamp.push(dx, dy, r >= 2 && d > r - 0.5 ? 1 : 0);
		}
	}
	return stamp;
}

function dotRadius(n, dpr) {
	const r = n <= 2000 ? 3 : n <= 20000 ? 2 : n <= 200000 ? 1 : 0;
	return Math.round(r * dpr);
}

// Plot every cell into the pixel buffer; in 3-D a depth buffer keeps the nearest dot on top.
function plotCells(pixels, w, h, view, xyz, colouring, stamp, useDepth) {
	const depth = useDepth ? new Float32Array(w * h).fill(-Infinity) : null;
	const { colours, rims, order } = colouring;
	const p = new Float64Array(3);
	for (const i of order) {
		project(view, xyz[i * 3], xyz[i * 3 + 1], xyz[i * 3 + 2], p);
		const x0 = Math.round(p[0]), y0 = Math.round(p[1]);
		for (let k = 0; k < stamp.length; k += 3) {
			const x = x0 + stamp[k], y = y0 + stamp[k + 1];
			if (x < 0 || y < 0 || x >= w || y >= h) continue;
			const at = y * w + x;
			if (depth) {
				if (p[2] < depth[at]) continue;
				depth[at] = p[2];
			}
			pixels[at] = stamp[k + 2] ? rims[i] : colours[i];
		}
	}
}

// Category names at their centroids (from the manifest), on a light box; the biggest
// categories first, and a label that would overlap one already drawn is left out.
function drawCentroidLabels(ctx, view, dpr) {
	const centroids = state.colouring.centroids && state.colouring.centroids[String(state.dim)];
	if (!centroids || state.dim === 1) return;
	ctx.font = `600 ${12 * dpr}px system-ui, "DejaVu Sans", sans-serif`;
	ctx.textAlign = 'center';
	ctx.textBaseline = 'middle';
	const placed = [];
	const p = new Float64Array(3);
	for (const { category, position: [x, y, z = 0] } of [...centroids].sort((a, b) => b.n_points - a.n_points)) {
		const text = String(category);
		project(view, x, y, z, p);
		const w = ctx.measureText(text).width + 10 * dpr, h = 18 * dpr;
		const box = { x: p[0] - w / 2, y: p[1] - h / 2, w, h };
		if (placed.some(b => b.x < box.x + w && box.x < b.x + b.w && b.y < box.y + h && box.y < b.y + b.h)) continue;
		placed.push(box);
		ctx.fillStyle = 'rgba(255, 255, 255, 0.82)';
		ctx.beginPath();
		ctx.roundRect(box.x, box.y, w, h, 4 * dpr);
		ctx.fill();
		ctx.fillStyle = '#1d2433';
		ctx.fillText(text, p[0], p[1]);
	}
}

function render() {
	const { embedding, colouring, dim } = state;
	if (!embedding || !colouring) return;
	const canvas = $('canvas');
	const dpr = window.devicePixelRatio || 1;
	const w = Math.max(1, Math.round(canvas.clientWidth * dpr)), h = Math.max(1, Math.round(canvas.clientHeight * dpr));
	if (canvas.width !== w || canvas.height !== h) Object.assign(canvas, { width: w, height: h });
	const ctx = canvas.getContext('2d');
	const image = ctx.createImageData(w, h);
	const view = makeView(embedding.bounds, dim, w, h);
	const stamp = dotStamp(dotRadius(state.nCells, dpr));
	plotCells(new Uint32Array(image.data.buffer), w, h, view, embedding.xyz, colouring, stamp, dim === 3);
	ctx.putImageData(image, 0, 0);
	drawCentroidLabels(ctx, view, dpr);
}

let renderQueued = false;
function requestRender() {
	if (renderQueued) return;
	renderQueued = true;
	requestAnimationFrame(() => { renderQueued = false; render(); });
}
