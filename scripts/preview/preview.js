/*
 * scripts/preview/preview.js - the cellucidfs preview page.
 *
 * Loads a Cellucid export the way the web viewer does (fetch; DecompressionStream('gzip') for
 * files whose name ends in .gz, the raw bytes otherwise; little-endian typed arrays;
 * dequantisation min + code*(max-min)/top, the missing marker becoming NaN) and draws the cells
 * on a canvas, coloured by an obs field or a gene. Both layouts are understood: payload paths
 * come from the manifests' patterns, with {key} replaced by the safe name (layout=names) or
 * {index} by the tuple's index (layout=index).
 *
 * Every file it reads is also a self-check (gzip header and ISIZE trailer, exact decoded
 * length, plausible content); at start-up it reads the metadata, every embedding, every obs file
 * and a sample of genes. A tree in the strict dialect (layout=index: payloads named by {index})
 * is held to the current viewer's rules as well (contract.js: closed JSON objects, agreement
 * across the files, the graph and the vector fields too), so that the page fails where that
 * viewer would; the 0.9 names layout, which only older viewers read, to the lenient rules here.
 * The results go to window.cellucidChecks and to <pre id="checks">, and document.title ends in
 * "(checks done)" once that sweep is over, so that a headless browser (tests/browser.sh) can
 * read them. Drawing is in draw.js.
 */
'use strict';

const GENE_SAMPLE = 50;   // genes checked at start-up: all of them when there are no more
const FETCH_POOL = 6;     // parallel requests during the start-up sweep

const DTYPES = {
	uint8: { bytes: 1, Array: Uint8Array, ext: 'u8', top: 254, missing: 255 },
	uint16: { bytes: 2, Array: Uint16Array, ext: 'u16', top: 65534, missing: 65535 },
	float32: { bytes: 4, Array: Float32Array, ext: 'f32' },
};

// ?data=BASE (default "/"), and optionally the first view: ?field=KEY or ?gene=NAME, ?dim=D.
const PARAMS = new URLSearchParams(location.search);

const state = {
	base: datasetBase(),
	strict: null,           // the dialect: true strict (layout=index), false names, null unknown
	identity: null,
	nCells: 0,
	fields: [],             // expanded obs fields, categorical first
	genes: [],              // expanded genes in var order
	geneByName: new Map(),  // lower-cased name -> gene
	dim: 0,
	embedding: null,        // {xyz, bounds} of the dimension shown
	embeddings: new Map(),  // dim -> Promise of {xyz, bounds}
	obsData: new Map(),     // key -> Promise of {codes} or {values}
	colouring: null,        // {colours, rims, order, legend, centroids}
	gene: null,             // the gene shown or being loaded (null: an obs field)
	rotation: { yaw: 0.6, pitch: 0.35 },
	ticket: 0,              // the latest colouring request; older answers are dropped
};

const checks = { done: false, passed: 0, failed: 0, failures: [], lines: [] };

start();

async function start() {
	bindControls();
	try {
		await loadDataset().catch(err => setStatus(err.message, true));
		if (state.identity) await runSelfChecks();
	} finally {
		checks.done = true;
		publishChecks();
		document.title += ' (checks done)';
	}
}

/* ---------- dataset and manifests ---------- */

// The dataset base URL: the ?data= parameter (default "/") resolved against the page, ending in "/".
function datasetBase() {
	const url = new URL(PARAMS.get('data') || '/', location.href);
	url.search = url.hash = '';
	if (!url.pathname.endsWith('/')) url.pathname += '/';
	return url.href;
}

async function loadDataset() {
	// Both at once: which rules the identity must follow depends on the obs manifest's dialect.
	const [identityDoc, obsDoc] = await Promise.all(['dataset_identity.json', 'obs_manifest.json'].map(fetchJson));
	state.strict = obsDoc.error ? null : Contract.isStrict(obsDoc.doc);
	const identity = recordJson('dataset_identity.json', identityDoc, identityProblems);
	if (!identity) {
		if (identityDoc.error) return offerCatalog();
		throw new Error('dataset_identity.json is not valid (see the self-checks)');
	}
	state.identity = identity;
	state.nCells = identity.stats.n_cells;
	showIdentity(identity);

	const obsManifest = recordJson('obs_manifest.json', obsDoc, obsManifestProblems);
	if (!obsManifest) throw new Error('obs_manifest.json could not be read (see the self-checks)');
	state.fields = expandObsManifest(obsManifest);
	fillFieldSelect(state.fields);

	let genes = null;
	if (identity.stats.n_genes > 0) {
		const varManifest = await loadJson('var_manifest.json', varManifestProblems);
		if (varManifest) setGenes(genes = expandVarManifest(varManifest));
	}
	if (state.strict) {
		// In the manifest's order: continuous fields first, as the viewer expands them.
		const inOrder = [...state.fields.filter(f => f.kind === 'continuous'), ...state.fields.filter(f => f.kind === 'category')];
		const problems = Contract.crossFile(identity, inOrder, genes);
		record('the identity, obs and var manifests agree', problems, 'fields in order, counts');
		if (problems.length) throw new Error('The metadata files disagree (see the self-checks)');
	}

	const dims = identity.embeddings.available_dimensions;
	const dim = dims.includes(Number(PARAMS.get('dim'))) ? Number(PARAMS.get('dim')) : identity.embeddings.default_dimension;
	fillDimSelect(dims, dim);
	await showEmbedding(dim);
	if (!state.embedding) throw new Error(`The ${dim}-D embedding could not be loaded (see the self-checks)`);
	await colourAtStart();
}

// The first colouring: ?gene=NAME, else ?field=KEY, else the first categorical field.
async function colourAtStart() {
	const gene = PARAMS.get('gene');
	if (gene && state.geneByName.has(gene.toLowerCase())) {
		$('gene').value = gene;
		return colourByGene(gene);
	}
	const field = state.fields.find(f => f.key === PARAMS.get('field')) ||
		state.fields.find(f => f.kind === 'category') || state.fields[0];
	if (field) return colourByField(field.key);
	showColouring(uniformColouring());
}

// Each *Problems(doc) is a list: the strict dialect's rules first, then the checks both share.
function identityProblems(doc) {
	const strict = state.strict ? Contract.identity(doc) : [];
	return strict.length ? strict : listOf(identityProblem(doc));
}

function obsManifestProblems(doc) {
	const strict = state.strict ? Contract.obsManifest(doc) : [];
	return strict.length ? strict : listOf(obsManifestProblem(doc));
}

function varManifestProblems(doc) {
	const strict = state.strict ? Contract.varManifest(doc) : [];
	return strict.length ? strict : listOf(varManifestProblem(doc));
}

function listOf(problem) {
	return problem ? [problem] : [];
}

function identityProblem(doc) {
	if (doc.version !== 2) return `version ${doc.version}, expected 2`;
	if (!Number.isSafeInteger(doc.stats.n_cells) || doc.stats.n_cells < 1) return 'stats.n_cells is not a positive count';
	const dims = doc.embeddings.available_dimensions;
	if (!dims.length || dims.some(d => !doc.embeddings.files[`${d}d`])) return 'embeddings lack a file per dimension';
	return null;
}

function obsManifestProblem(doc) {
	const n = doc._continuousFields.length + doc._categoricalFields.length;
	return manifestProblem(doc, n, state.identity.stats.n_obs_fields, 'obs fields');
}

function varManifestProblem(doc) {
	return manifestProblem(doc, doc.fields.length, state.identity.stats.n_genes, 'genes');
}

function manifestProblem(doc, entries, expected, what) {
	if (doc._format !== 'compact_v1') return `_format ${JSON.stringify(doc._format)}, expected "compact_v1"`;
	if (doc.n_points !== state.nCells) return `n_points ${doc.n_points}, but the identity has ${state.nCells} cells`;
	if (entries !== expected) return `${entries} ${what}, but the identity counts ${expected}`;
	return null;
}

// The safe-name rule of the names layout: runs outside [A-Za-z0-9._-] become one '_',
// leading and trailing '.' and '_' go, and an empty result is 'field'.
function safeName(key) {
	return String(key).replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+|[._]+$/g, '') || 'field';
}

function payloadPath(pattern, key, index, ext) {
	return pattern.replace('{key}', safeName(key)).replace('{index}', String(index)).replace('{ext}', ext);
}

// A manifest tuple starts with the payload index exactly when its path pattern uses {index}.
function splitTuple(tuple, pattern) {
	return pattern.includes('{index}') ? [tuple[0], tuple.slice(1)] : [null, tuple];
}

function expandObsManifest(manifest) {
	const { continuous, categorical } = manifest._obsSchemas;
	const categoricalFields = manifest._categoricalFields.map(tuple => {
		const [index, [key, categories, codesDtype, , centroids, outlierMin, outlierMax]] =
			splitTuple(tuple, categorical.codesPathPattern);
		return {
			key: String(key), kind: 'category', categories: categories.map(String), centroids,
			codes: { path: payloadPath(categorical.codesPathPattern, key, index, DTYPES[codesDtype].ext), dtype: codesDtype },
			outliers: categorical.outlierPathPattern && {
				path: payloadPath(categorical.outlierPathPattern, key, index),
				dtype: categorical.outlierDtype, min: outlierMin, max: outlierMax,
			},
		};
	});
	const continuousFields = manifest._continuousFields.map(tuple => {
		const [index, [key, min, max]] = splitTuple(tuple, continuous.pathPattern);
		return { key: String(key), kind: 'continuous', values: { path: payloadPath(continuous.pathPattern, key, index), dtype: continuous.dtype, min, max } };
	});
	return [...categoricalFields, ...continuousFields];
}

function expandVarManifest(manifest) {
	const schema = manifest._varSchema;
	return manifest.fields.map(tuple => {
		const [index, [name, min, max]] = splitTuple(tuple, schema.pathPattern);
		return { name: String(name), path: payloadPath(schema.pathPattern, name, index), dtype: schema.dtype, min, max };
	});
}

// No dataset at the base URL: if it holds a catalog (datasets.json), list links to its datasets.
async function offerCatalog() {
	const response = await fetch(state.base + 'datasets.json').catch(() => null);
	if (!response || !response.ok) throw new Error(`No dataset at ${state.base}: dataset_identity.json could not be read`);
	const catalog = await response.json();
	const list = el('ul');
	for (const dataset of catalog.datasets) {
		const link = el('a', dataset.name || dataset.id);
		link.href = '?data=' + encodeURIComponent(new URL(dataset.path, state.base).pathname);
		list.append(el('li', '', '', link));
	}
	$('legend').replaceChildren(el('h2', 'Datasets'), list);
	throw new Error(`${state.base} is a collection of ${catalog.datasets.length} datasets: pick one`);
}

/* ---------- fetching, inflating and checking payloads ---------- */

async function fetchOk(path) {
	const response = await fetch(state.base + path);
	if (!response.ok) throw new Error(`HTTP ${response.status}`);
	return response;
}

// Fetch and parse one metadata document: {doc} or {error}.
async function fetchJson(path) {
	try {
		return { doc: await (await fetchOk(path)).json() };
	} catch (err) {
		return { error: err.message };
	}
}

// Record the check of a fetched document, problemsOf(doc) listing what is wrong with it; the
// document, or null when it failed.
function recordJson(path, fetched, problemsOf) {
	let problems = [fetched.error];
	if (!fetched.error) {
		try {
			problems = problemsOf(fetched.doc);
		} catch (err) {
			problems = [err.message];
		}
	}
	record(path, problems, state.strict ? 'parsed, the strict rules hold' : 'parsed');
	return problems.length ? null : fetched.doc;
}

async function loadJson(path, problemsOf) {
	return recordJson(path, await fetchJson(path), problemsOf);
}

// Fetch one binary payload, inflate it when its name ends in .gz, check the gzip header, the
// ISIZE trailer and the decoded length, then decode(buffer), which throws on bad content.
// Records one check and returns the decoded value, or null when any check failed.
async function loadPayload(path, expectedBytes, decode) {
	const gzipped = path.endsWith('.gz');
	const problems = [];
	let result = null;
	try {
		const response = await fetchOk(path);
		const encoding = response.headers.get('Content-Encoding');
		if (gzipped && encoding) problems.push(`sent with Content-Encoding: ${encoding} (the raw gzip bytes are needed)`);
		let buffer = await response.arrayBuffer();
		if (gzipped) {
			problems.push(...gzipProblems(new Uint8Array(buffer), expectedBytes));
			buffer = await gunzip(buffer, expectedBytes);
		}
		if (buffer.byteLength !== expectedBytes) problems.push(`decoded ${buffer.byteLength} bytes, expected ${expectedBytes}`);
		else if (!problems.length) result = decode(buffer);
	} catch (err) {
		problems.push(err.message);
	}
	record(path, problems, `${expectedBytes} bytes` + (gzipped ? ', gzip ISIZE agrees' : ''));
	return problems.length ? null : result;
}

function gzipProblems(bytes, expectedBytes) {
	if (bytes.length < 18) return [`gzip file of ${bytes.length} bytes is too short`];
	const problems = [];
	if (bytes[0] !== 0x1f || bytes[1] !== 0x8b || bytes[2] !== 8) problems.push('no gzip header (1f 8b 08)');
	else if (bytes[3] & 0xe0) problems.push('reserved gzip flag bits are set');
	const isize = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(bytes.length - 4, true);
	const expected = expectedBytes % 0x100000000;
	if (isize !== expected) problems.push(`gzip ISIZE ${isize}, expected ${expected}`);
	return problems;
}

// Inflate with DecompressionStream into a buffer of the expected size: output beyond it is an
// error, not a bigger allocation (a bad file cannot make the page inflate without bound).
async function gunzip(buffer, expectedBytes) {
	const reader = new Blob([buffer]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
	const out = new Uint8Array(expectedBytes);
	let length = 0;
	for (;;) {
		let chunk;
		try {
			chunk = await reader.read();
		} catch (err) {
			throw new Error(`gzip data does not inflate: ${err.message}`);
		}
		if (chunk.done) return length === expectedBytes ? out.buffer : out.buffer.slice(0, length);
		if (length + chunk.value.length > expectedBytes) {
			reader.cancel();
			throw new Error(`inflates to more than the expected ${expectedBytes} bytes`);
		}
		out.set(chunk.value, length);
		length += chunk.value.length;
	}
}

// Quantised payloads become float32 values (missing marker -> NaN); float32 ones are used as is.
// Typed arrays use the host byte order, little-endian in every browser the viewer supports.
function decodeValues(buffer, spec) {
	const type = DTYPES[spec.dtype];
	const raw = new type.Array(buffer);
	if (spec.dtype === 'float32') return raw;
	const step = (spec.max - spec.min) / type.top;
	const values = new Float32Array(raw.length);
	for (let i = 0; i < raw.length; i++) values[i] = raw[i] === type.missing ? NaN : spec.min + raw[i] * step;
	return values;
}

function loadValues(spec, check = values => values) {
	return loadPayload(spec.path, state.nCells * DTYPES[spec.dtype].bytes, buffer => check(decodeValues(buffer, spec)));
}

function loadCodes(field) {
	const type = DTYPES[field.codes.dtype];
	return loadPayload(field.codes.path, state.nCells * type.bytes, buffer => {
		const codes = new type.Array(buffer);
		const limit = field.categories.length;
		const bad = codes.findIndex(c => c >= limit && c !== type.missing);
		if (bad >= 0) throw new Error(`cell ${bad} has code ${codes[bad]}, but there are ${limit} categories`);
		return codes;
	});
}

// Continuous obs fields and genes: in the strict dialect, no infinity and not all NaN.
function checkContinuous(values) {
	const problems = state.strict ? Contract.continuousValues(values, 'the field') : [];
	if (problems.length) throw new Error(problems[0]);
	return values;
}

function checkQuantiles(values) {
	const bad = values.findIndex(v => !Number.isNaN(v) && !(v >= 0 && v <= 1));
	if (bad >= 0) throw new Error(`cell ${bad} has outlier quantile ${values[bad]}, outside [0, 1]`);
	return values;
}

function loadObsField(field) {
	if (!state.obsData.has(field.key)) state.obsData.set(field.key, fetchObsField(field));
	return state.obsData.get(field.key);
}

async function fetchObsField(field) {
	if (field.kind === 'continuous') {
		const values = await loadValues(field.values, checkContinuous);
		return values && { values };
	}
	const [codes] = await Promise.all([loadCodes(field), field.outliers && loadValues(field.outliers, checkQuantiles)]);
	return codes && { codes };
}

function loadEmbedding(dim) {
	if (!state.embeddings.has(dim)) state.embeddings.set(dim, fetchEmbedding(dim));
	return state.embeddings.get(dim);
}

function fetchEmbedding(dim) {
	const path = state.identity.embeddings.files[`${dim}d`];
	return loadPayload(path, state.nCells * dim * 4, buffer => {
		const xyz = padToXYZ(finiteCoordinates(buffer, dim), dim);
		return { xyz, bounds: bounds(xyz) };
	});
}

// n_cells x dim float32 values (an embedding, a vector field), every one finite.
function finiteCoordinates(buffer, dim) {
	const coords = new Float32Array(buffer);
	const bad = coords.findIndex(v => !Number.isFinite(v));
	if (bad >= 0) throw new Error(`cell ${Math.floor(bad / dim)} has a non-finite coordinate`);
	return coords;
}

// The strict dialect's graph: its manifest, the three edge files, then their content.
async function checkConnectivity() {
	const doc = await loadJson('connectivity_manifest.json', d => Contract.connectivity(d, state.identity));
	if (!doc) return;
	const Index = doc.index_bytes === 2 ? Uint16Array : Uint32Array;
	const [src, dst, weights] = await Promise.all([
		loadPayload(doc.sourcesPath, doc.n_edges * doc.index_bytes, buffer => new Index(buffer)),
		loadPayload(doc.destinationsPath, doc.n_edges * doc.index_bytes, buffer => new Index(buffer)),
		loadPayload(doc.weightsPath, doc.n_edges * 8, buffer => new Float64Array(buffer)),
	]);
	if (src && dst && weights) record('the edges', Contract.edges(doc, src, dst, weights), `${doc.n_edges} edges in order, degrees`);
}

// The strict dialect's vector fields, one payload per field and dimension.
function vectorJobs() {
	const vectors = state.identity.vector_fields;
	return Object.values(vectors ? vectors.fields : {}).flatMap(field => field.available_dimensions.map(dim =>
		() => loadPayload(field.files[`${dim}d`], state.nCells * dim * 4, buffer => finiteCoordinates(buffer, dim))));
}

// The start-up sweep: every embedding, every obs file and a spread-out sample of genes.
async function runSelfChecks() {
	const dims = state.identity.embeddings.available_dimensions;
	const jobs = [
		...dims.map(dim => () => loadEmbedding(dim)),
		...state.fields.map(field => () => loadObsField(field)),
		...sampleGenes(state.genes, GENE_SAMPLE).map(gene => () => loadValues(gene, checkContinuous)),
		...(state.strict && state.identity.stats.has_connectivity ? [checkConnectivity] : []),
		...(state.strict ? vectorJobs() : []),
	];
	let next = 0;
	const worker = async () => { while (next < jobs.length) await jobs[next++](); };
	await Promise.all(Array.from({ length: Math.min(FETCH_POOL, jobs.length) }, worker));
}

function sampleGenes(genes, n) {
	if (genes.length <= n) return genes;
	return Array.from({ length: n }, (_, k) => genes[Math.floor(k * genes.length / n)]);
}

function record(name, problems, note) {
	if (problems.length) {
		const more = problems.length > 5 ? [`and ${problems.length - 5} more`] : [];
		const text = `${name}: ${[...problems.slice(0, 5), ...more].join('; ')}`;
		checks.failed++;
		checks.failures.push(text);
		checks.lines.push(`FAIL ${text}`);
	} else {
		checks.passed++;
		checks.lines.push(`ok   ${name} (${note})`);
	}
	publishChecks();
}

function publishChecks() {
	const { done, passed, failed, failures } = checks;
	const dialect = state.strict === null ? null : state.strict ? 'strict' : 'names';
	window.cellucidChecks = { done, passed, failed, failures: [...failures], dialect };
	const rules = dialect && (state.strict ? "rules: the strict dialect (layout=index), the current viewer's"
		: 'rules: the 0.9 names layout, which only older viewers read');
	$('checks').textContent = [rules, ...checks.lines, `checks: ${passed} passed, ${failed} failed`].filter(Boolean).join('\n');
	const summary = $('checks-summary');
	summary.textContent = `Self-checks${done ? '' : ' (running)'}: ${passed} passed, ${failed} failed`;
	summary.classList.toggle('failed', failed > 0);
}

/* ---------- colourings ---------- */

async function colourByField(key) {
	const field = state.fields.find(f => f.key === key);
	state.gene = null;
	const ticket = ++state.ticket;
	$('field').value = key;
	setStatus(`Loading ${key}…`);
	const data = await loadObsField(field);
	if (ticket !== state.ticket) return;
	if (!data) return setStatus(`${key} could not be loaded (see the self-checks)`, true);
	showColouring(field.kind === 'category' ? categoricalColouring(field, data.codes) : continuousColouring(key, data.values));
}

async function colourByGene(name) {
	const gene = state.geneByName.get(name.toLowerCase());
	if (!gene) return setStatus(`No gene named "${name}"`, true);
	if (gene === state.gene) return;
	state.gene = gene;
	const ticket = ++state.ticket;
	$('field').value = '';
	setStatus(`Loading ${gene.name}…`);
	const values = await loadValues(gene, checkContinuous);
	if (ticket !== state.ticket) return;
	if (!values) return setStatus(`${gene.name} could not be loaded (see the self-checks)`, true);
	showColouring(continuousColouring(gene.name, values));
}

/* ---------- page: controls, legend, status ---------- */

function $(id) {
	return document.getElementById(id);
}

function el(tag, text = '', className = '', ...children) {
	const node = document.createElement(tag);
	if (text) node.textContent = text;
	if (className) node.className = className;
	node.append(...children);
	return node;
}

function setStatus(text, isError = false) {
	const status = $('status');
	status.textContent = text;
	status.classList.toggle('error', isError);
}

function formatNumber(v) {
	if (!Number.isFinite(v)) return '–';
	const a = Math.abs(v);
	return a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(2) : String(Number(v.toPrecision(4)));
}

function showIdentity(identity) {
	const { stats } = identity;
	document.title = `${identity.name} · cellucid preview`;
	$('dataset-name').textContent = identity.name;
	$('dataset-stats').textContent =
		`${stats.n_cells.toLocaleString()} cells · ${stats.n_genes.toLocaleString()} genes · ${stats.n_obs_fields} obs fields`;
}

function fillFieldSelect(fields) {
	const select = $('field');
	const gene = el('option', '(gene)');
	Object.assign(gene, { value: '', disabled: true, hidden: true });
	select.replaceChildren(gene);
	for (const [kind, label] of [['category', 'Categorical'], ['continuous', 'Continuous']]) {
		const group = el('optgroup');
		group.label = label;
		for (const field of fields.filter(f => f.kind === kind)) {
			const option = el('option', field.key);
			option.value = field.key;
			group.append(option);
		}
		if (group.children.length) select.append(group);
	}
}

function setGenes(genes) {
	state.genes = genes;
	for (const gene of genes) {
		const key = gene.name.toLowerCase();
		if (!state.geneByName.has(key)) state.geneByName.set(key, gene);
	}
	$('gene-names').replaceChildren(...genes.map(gene => {
		const option = el('option');
		option.value = gene.name;
		return option;
	}));
}

function fillDimSelect(dims, dim) {
	const select = $('dim');
	select.replaceChildren(...dims.map(d => {
		const option = el('option', `${d}-D`);
		option.value = String(d);
		return option;
	}));
	select.value = String(dim);
	$('dim-label').hidden = dims.length < 2;
}

async function showEmbedding(dim) {
	const embedding = await loadEmbedding(dim);
	if (!embedding) return setStatus(`The ${dim}-D embedding could not be loaded (see the self-checks)`, true);
	Object.assign(state, { dim, embedding });
	$('canvas').classList.toggle('rotatable', dim === 3);
	$('hint').textContent = dim === 3 ? 'drag the plot to rotate' : '';
	if (state.colouring) showColouring(state.colouring);
}

function showColouring(colouring) {
	state.colouring = colouring;
	renderLegend(colouring.legend);
	render();
	if (state.embedding) {
		setStatus(`${state.nCells.toLocaleString()} cells · ${state.dim}-D embedding · coloured by ${colouring.legend.title}`);
	}
}

function renderLegend(legend) {
	const box = $('legend');
	box.replaceChildren(el('h2', legend.title));
	if (legend.kind === 'category') {
		box.append(el('ul', '', '', ...legend.items.map(item => {
			const swatch = el('span', '', 'swatch');
			swatch.style.background = `rgb(${item.rgb.join(',')})`;
			return el('li', '', '', swatch, el('span', item.name, 'name'), el('span', item.count.toLocaleString(), 'count'));
		})));
	} else {
		const ramp = el('div', '', 'ramp');
		ramp.style.background = `linear-gradient(to right, ${RAMP.join(', ')})`;
		box.append(ramp, el('div', '', 'ramp-labels', el('span', formatNumber(legend.min)), el('span', formatNumber(legend.max))));
	}
	if (legend.missing) {
		const swatch = el('span', '', 'swatch');
		swatch.style.background = `rgb(${MISSING_RGB.join(',')})`;
		box.append(el('div', '', 'note', swatch, ` ${legend.missing.toLocaleString()} cells without a value`));
	}
}

function bindControls() {
	$('field').addEventListener('change', e => {
		if (!e.target.value) return;
		$('gene').value = '';
		colourByField(e.target.value);
	});
	// Picking a datalist suggestion is an 'input' of type insertReplacementText; typing ends
	// with 'change' (Enter or leaving the box).
	const pickGene = () => {
		const name = $('gene').value.trim();
		if (name) colourByGene(name);
	};
	$('gene').addEventListener('input', e => { if (e.inputType === 'insertReplacementText') pickGene(); });
	$('gene').addEventListener('change', pickGene);
	$('dim').addEventListener('change', e => showEmbedding(Number(e.target.value)));
	bindRotation($('canvas'));
	new ResizeObserver(() => render()).observe($('plot'));
}

function bindRotation(canvas) {
	let last = null;
	canvas.addEventListener('pointerdown', e => {
		if (state.dim !== 3) return;
		last = [e.clientX, e.clientY];
		canvas.setPointerCapture(e.pointerId);
	});
	canvas.addEventListener('pointermove', e => {
		if (!last) return;
		const { rotation } = state;
		rotation.yaw += (e.clientX - last[0]) * 0.01;
		rotation.pitch = Math.max(-1.5, Math.min(1.5, rotation.pitch + (e.clientY - last[1]) * 0.01));
		last = [e.clientX, e.clientY];
		requestRender();
	});
	const stop = () => { last = null; };
	canvas.addEventListener('pointerup', stop);
	canvas.addEventListener('pointercancel', stop);
}
