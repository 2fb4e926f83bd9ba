/*
 * scripts/preview/contract.js - the strict dialect's rules (layout=index), as the current
 * Cellucid viewer applies them when it loads a dataset (../shared/spec/viewer-contract-strict.md,
 * from which the section numbers below come), so that the preview fails where the viewer would.
 *
 * Each check takes a parsed document (and what it must agree with) and returns a list of
 * problems, one short sentence each naming the element; an empty list is a pass:
 *
 *   Contract.identity(doc)                          dataset_identity.json (§2, §7)
 *   Contract.obsManifest(doc)                       obs_manifest.json (§3)
 *   Contract.varManifest(doc)                       var_manifest.json (§4)
 *   Contract.connectivity(doc, identity)            connectivity_manifest.json (§6)
 *   Contract.edges(manifest, src, dst, weights)     the decoded edge files (§6)
 *   Contract.crossFile(identity, obs, vars)         agreement across the files (§8)
 *   Contract.continuousValues(values, name)         a continuous payload, decoded (§14)
 *
 * Contract.isStrict(obsManifest) tells the dialects apart: the strict one names payloads by
 * {index}; the 0.9 names layout ({key}) is left to the older, lenient rules of preview.js.
 */
'use strict';

const Contract = (() => {
	const QUANTIZED = { 8: ['uint8', 'u8'], 16: ['uint16', 'u16'] };
	const CODES = { uint8: { missing: 255, max: 255 }, uint16: { missing: 65535, max: 65535 } };
	const show = v => JSON.stringify(v);

	const isObject = v => v !== null && typeof v === 'object' && !Array.isArray(v);
	const isCount = v => Number.isSafeInteger(v) && v >= 0;
	const isNumber = v => typeof v === 'number' && Number.isFinite(v);
	const isText = v => typeof v === 'string' && v.trim() !== '';
	const hasControl = s => /[\u0000-\u001f\u007f-\u009f]/.test(s);
	const exactText = v => isText(v) && v === v.trim() && !hasControl(v);
	const compressionOk = v => v === null || (Number.isInteger(v) && v >= 1 && v <= 9);

	// closed(where, obj, required, optional, bad): obj is an object with every required key,
	// and no key outside required and optional. False (after reporting) when it is not an object.
	function closed(where, obj, required, optional, bad) {
		if (!isObject(obj)) {
			bad(`${where} is not an object`);
			return false;
		}
		for (const key of required) if (!Object.hasOwn(obj, key)) bad(`${where} lacks "${key}"`);
		for (const key of Object.keys(obj)) {
			if (!required.includes(key) && !optional.includes(key)) bad(`${where} contains unsupported field "${key}"`);
		}
		return true;
	}

	function collector() {
		const list = [];
		return { list, bad: text => list.push(text) };
	}

	// §1: a relative payload path of a manifest, and the stricter rule of identity paths.
	function pathProblem(path) {
		if (typeof path !== 'string' || path === '') return 'is not a non-empty path';
		if (path.startsWith('/')) return 'starts with /';
		if (/[\\%?#]/.test(path)) return 'contains \\, %, ? or #';
		if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(path)) return 'starts with a scheme or drive';
		if (path.split('/').some(s => s === '' || s === '.' || s === '..')) return 'has an empty, . or .. segment';
		return null;
	}

	function identityPathProblem(path) {
		const problem = pathProblem(path);
		if (problem) return problem;
		if (hasControl(path)) return 'contains a control character';
		if (path !== path.trim()) return 'has surrounding whitespace';
		if (path.split('/').some(s => encodeURIComponent(s) !== s)) return 'has a segment that is not canonically percent-encoded';
		return null;
	}

	// Strictly increasing dimensions from {1, 2, 3}.
	function dimensionsOk(dims) {
		return Array.isArray(dims) && dims.length > 0 &&
			dims.every((d, i) => [1, 2, 3].includes(d) && (i === 0 || d > dims[i - 1]));
	}

	// files: exactly one identity-safe path per dimension, keyed "<d>d".
	function filesByDimension(where, files, dims, bad) {
		if (!isObject(files)) return bad(`${where} is not an object`);
		const want = dims.map(d => `${d}d`);
		const keys = Object.keys(files);
		if (keys.length !== want.length || !want.every(k => keys.includes(k))) {
			bad(`${where} has keys ${show(keys)}, expected ${show(want)}`);
		}
		for (const [key, path] of Object.entries(files)) {
			const problem = identityPathProblem(path);
			if (problem) bad(`${where}.${key} ${show(path)} ${problem}`);
		}
	}

	/* ---------- dataset_identity.json (§2, §7) ---------- */

	function identity(doc) {
		const { list, bad } = collector();
		if (!closed('the identity', doc, ['version', 'id', 'name', 'description', 'cellucid_data_version',
			'stats', 'embeddings', 'obs_fields'], ['created_at', 'export_settings', 'source', 'vector_fields'], bad)) return list;
		if (doc.version !== 2) bad(`version ${show(doc.version)}, expected 2`);
		if (!exactText(doc.id)) bad(`id ${show(doc.id)} is not an exact non-empty string`);
		if (!isText(doc.name)) bad('name is empty');
		if (typeof doc.description !== 'string') bad('description is not a string');
		if (!isText(doc.cellucid_data_version)) bad('cellucid_data_version is empty');
		if (Object.hasOwn(doc, 'created_at')) createdAt(doc.created_at, bad);
		const stats = statsOf(doc.stats, bad);
		const dims = embeddings(doc.embeddings, bad);
		obsFields(doc.obs_fields, stats, bad);
		if (Object.hasOwn(doc, 'export_settings')) exportSettings(doc.export_settings, bad);
		if (Object.hasOwn(doc, 'source') && closed('source', doc.source, ['name'], ['url', 'citation', 'filename'], bad)) {
			for (const [key, v] of Object.entries(doc.source)) if (!isText(v)) bad(`source.${key} is empty`);
		}
		if (Object.hasOwn(doc, 'vector_fields')) vectorFields(doc.vector_fields, dims, bad);
		return list;
	}

	function createdAt(v, bad) {
		const real = typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(v) &&
			!Number.isNaN(Date.parse(v)) && new Date(v).toISOString().replace('.000Z', 'Z') === v;
		if (!real) bad(`created_at ${show(v)} is not a YYYY-MM-DDTHH:MM:SSZ date`);
	}

	function statsOf(stats, bad) {
		const keys = ['n_cells', 'n_genes', 'n_obs_fields', 'n_categorical_fields', 'n_continuous_fields'];
		if (!closed('stats', stats, [...keys, 'has_connectivity', 'n_edges'], [], bad)) return null;
		for (const key of keys) if (!isCount(stats[key])) bad(`stats.${key} ${show(stats[key])} is not a count`);
		if (stats.n_cells < 1) bad('stats.n_cells is 0');
		if (typeof stats.has_connectivity !== 'boolean') bad('stats.has_connectivity is not a boolean');
		if (stats.has_connectivity ? !isCount(stats.n_edges) : stats.n_edges !== null) {
			bad(`stats.n_edges ${show(stats.n_edges)} does not go with has_connectivity ${show(stats.has_connectivity)}`);
		}
		if (stats.n_obs_fields !== stats.n_categorical_fields + stats.n_continuous_fields) {
			bad('stats.n_obs_fields is not n_categorical_fields + n_continuous_fields');
		}
		return stats;
	}

	function embeddings(e, bad) {
		if (!closed('embeddings', e, ['available_dimensions', 'default_dimension', 'files'], [], bad)) return [];
		if (!dimensionsOk(e.available_dimensions)) {
			bad(`embeddings.available_dimensions ${show(e.available_dimensions)} are not increasing dimensions of 1-3`);
			return [];
		}
		if (!e.available_dimensions.includes(e.default_dimension)) bad('embeddings.default_dimension is not available');
		filesByDimension('embeddings.files', e.files, e.available_dimensions, bad);
		return e.available_dimensions;
	}

	function obsFields(fields, stats, bad) {
		if (!Array.isArray(fields)) return bad('obs_fields is not an array');
		if (stats && fields.length !== stats.n_obs_fields) bad(`${fields.length} obs_fields, but stats.n_obs_fields is ${stats.n_obs_fields}`);
		const seen = new Set(), kinds = { category: 0, continuous: 0 };
		fields.forEach((f, i) => {
			const where = `obs_fields[${i}]`;
			const category = isObject(f) && f.kind === 'category';
			if (!closed(where, f, category ? ['key', 'kind', 'n_categories'] : ['key', 'kind'], [], bad)) return;
			if (!isText(f.key)) bad(`${where}.key is empty`);
			else if (seen.has(f.key)) bad(`${where}.key ${show(f.key)} is repeated`);
			seen.add(f.key);
			if (f.kind in kinds) kinds[f.kind]++;
			else bad(`${where}.kind ${show(f.kind)} is neither "category" nor "continuous"`);
			if (category && !isCount(f.n_categories)) bad(`${where}.n_categories is not a count`);
		});
		if (stats && (kinds.category !== stats.n_categorical_fields || kinds.continuous !== stats.n_continuous_fields)) {
			bad('obs_fields per kind do not match stats');
		}
	}

	function exportSettings(s, bad) {
		const keys = ['compression', 'var_quantization', 'obs_continuous_quantization', 'obs_categorical_dtype'];
		if (!closed('export_settings', s, keys, [], bad)) return;
		if (!compressionOk(s.compression)) bad(`export_settings.compression ${show(s.compression)} is not null or 1-9`);
		for (const key of ['var_quantization', 'obs_continuous_quantization']) {
			if (![null, 8, 16].includes(s[key])) bad(`export_settings.${key} ${show(s[key])} is not null, 8 or 16`);
		}
		if (!(s.obs_categorical_dtype in CODES)) {
			bad(`export_settings.obs_categorical_dtype ${show(s.obs_categorical_dtype)} must be uint8 or uint16`);
		}
	}

	function vectorFields(v, dims, bad) {
		if (!closed('vector_fields', v, ['default_field', 'fields'], [], bad)) return;
		if (!isObject(v.fields) || !Object.keys(v.fields).length) return bad('vector_fields.fields is not a non-empty object');
		if (v.default_field !== null && !Object.hasOwn(v.fields, v.default_field)) {
			bad(`vector_fields.default_field ${show(v.default_field)} names no field`);
		}
		for (const [name, f] of Object.entries(v.fields)) {
			const where = `vector_fields.fields.${name}`;
			if (!closed(where, f, ['label', 'basis', 'available_dimensions', 'default_dimension', 'files'], [], bad)) continue;
			if (!isText(f.label) || !isText(f.basis)) bad(`${where}: label and basis must be non-empty`);
			if (!dimensionsOk(f.available_dimensions) || f.available_dimensions.some(d => !dims.includes(d))) {
				bad(`${where}.available_dimensions ${show(f.available_dimensions)} are not embedding dimensions`);
				continue;
			}
			if (f.default_dimension !== f.available_dimensions.at(-1)) bad(`${where}.default_dimension is not the largest`);
			filesByDimension(`${where}.files`, f.files, f.available_dimensions, bad);
		}
	}

	/* ---------- obs_manifest.json (§3) and var_manifest.json (§4) ---------- */

	// A path pattern: each placeholder once, no other braces, the given tail (+ .gz exactly when
	// compressed), and a valid relative path once filled in.
	function pattern(where, p, holders, tail, compression, bad) {
		if (typeof p !== 'string') return bad(`${where} is not a string`);
		for (const h of holders) if (p.split(h).length !== 2) bad(`${where} ${show(p)} does not contain ${h} once`);
		let rest = p;
		for (const h of holders) rest = rest.replace(h, '');
		if (/[{}]/.test(rest)) bad(`${where} ${show(p)} has a placeholder other than ${holders.join(', ')}`);
		const end = tail + (compression === null ? '' : '.gz');
		if (!p.endsWith(end)) bad(`${where} ${show(p)} does not end in ${end}`);
		const problem = pathProblem(p.replace('{index}', '0').replace('{ext}', 'u8'));
		if (problem) bad(`${where} ${show(p)} ${problem}`);
	}

	// A continuous value schema: dtype, ext and quantizationBits together, and its path pattern.
	function valueSchema(where, s, required, tail, compression, bad) {
		const quantized = isObject(s) && s.quantized === true;
		if (!closed(where, s, [...required, 'pathPattern', 'ext', 'dtype', 'quantized', ...(quantized ? ['quantizationBits'] : [])], [], bad)) return null;
		if (typeof s.quantized !== 'boolean') bad(`${where}.quantized is not a boolean`);
		const [dtype, ext] = quantized ? QUANTIZED[s.quantizationBits] || [] : ['float32', 'f32'];
		if (!dtype) bad(`${where}.quantizationBits ${show(s.quantizationBits)} is not 8 or 16`);
		else if (s.dtype !== dtype || s.ext !== ext) bad(`${where}: dtype ${show(s.dtype)} and ext ${show(s.ext)}, expected ${dtype} and ${ext}`);
		pattern(`${where}.pathPattern`, s.pathPattern, ['{index}'], `{index}${tail}.${ext}`, compression, bad);
		return s;
	}

	// [index, name] or [index, name, min, max] when quantized.
	function valueTuple(where, t, quantized, bad) {
		if (!Array.isArray(t) || t.length !== (quantized ? 4 : 2)) return bad(`${where} is not [index, name${quantized ? ', min, max' : ''}]`);
		if (quantized && !(isNumber(t[2]) && isNumber(t[3]) && t[2] <= t[3])) bad(`${where}: bounds ${show(t.slice(2))} are not finite min <= max`);
	}

	// Indices exactly 0..N-1, names non-empty, exact and unique.
	function indexSpace(what, tuples, bad) {
		const indices = tuples.map(t => t[0]).sort((a, b) => a - b);
		if (indices.some((v, i) => v !== i)) bad(`${what} indices are not exactly 0..${tuples.length - 1}`);
		const names = new Set();
		for (const t of tuples) {
			if (!isText(t[1]) || t[1] !== t[1].trim()) bad(`${what} name ${show(t[1])} is empty or not trimmed`);
			else if (names.has(t[1])) bad(`${what} name ${show(t[1])} is repeated`);
			names.add(t[1]);
		}
	}

	function obsManifest(doc) {
		const { list, bad } = collector();
		if (!closed('the obs manifest', doc, ['_format', 'n_points', 'centroid_outlier_quantile', 'latent_key', 'compression',
			'_obsSchemas', '_continuousFields', '_categoricalFields'], [], bad)) return list;
		header(doc, bad);
		const q = doc.centroid_outlier_quantile;
		if (q !== null && !(isNumber(q) && q > 0 && q < 1)) bad(`centroid_outlier_quantile ${show(q)} is not null or in (0, 1)`);
		if (doc.latent_key !== null && !isText(doc.latent_key)) bad('latent_key is not null or a non-empty string');
		const cont = doc._continuousFields, cat = doc._categoricalFields;
		if (!Array.isArray(cont) || !Array.isArray(cat)) {
			bad('_continuousFields or _categoricalFields is not an array');
			return list;
		}
		const wanted = [...(cont.length ? ['continuous'] : []), ...(cat.length ? ['categorical'] : [])];
		if (!closed('_obsSchemas', doc._obsSchemas, wanted, [], bad)) return list;
		if (cont.length) {
			const s = valueSchema('_obsSchemas.continuous', doc._obsSchemas.continuous, [], '.values', doc.compression, bad);
			if (s) cont.forEach((t, i) => valueTuple(`_continuousFields[${i}]`, t, s.quantized === true, bad));
		}
		if (cat.length) {
			const s = categoricalSchema(doc._obsSchemas.categorical, doc.compression, bad);
			if (s) cat.forEach((t, i) => categoricalTuple(`_categoricalFields[${i}]`, t, s.outlierQuantized === true, doc.n_points, bad));
		}
		if (list.length === 0) indexSpace('obs field', [...cont, ...cat], bad);
		return list;
	}

	function header(doc, bad) {
		if (doc._format !== 'compact_v1') bad(`_format ${show(doc._format)}, expected "compact_v1"`);
		if (!Number.isSafeInteger(doc.n_points) || doc.n_points < 1) bad(`n_points ${show(doc.n_points)} is not a positive count`);
		if (!compressionOk(doc.compression)) bad(`compression ${show(doc.compression)} is not null or 1-9`);
	}

	function categoricalSchema(s, compression, bad) {
		const where = '_obsSchemas.categorical';
		if (!closed(where, s, ['codesPathPattern', 'outlierPathPattern', 'outlierExt', 'outlierDtype', 'outlierQuantized'], [], bad)) return null;
		pattern(`${where}.codesPathPattern`, s.codesPathPattern, ['{index}', '{ext}'], '{index}.codes.{ext}', compression, bad);
		if (typeof s.outlierQuantized !== 'boolean') bad(`${where}.outlierQuantized is not a boolean`);
		if (s.outlierPathPattern === null && s.outlierExt === null && s.outlierDtype === null && s.outlierQuantized === false) return s;
		const allowed = s.outlierQuantized ? Object.values(QUANTIZED) : [['float32', 'f32']];
		if (!allowed.some(([dtype, ext]) => s.outlierDtype === dtype && s.outlierExt === ext)) {
			bad(`${where}: outlierDtype ${show(s.outlierDtype)} and outlierExt ${show(s.outlierExt)} do not go with outlierQuantized ${show(s.outlierQuantized)}`);
		}
		pattern(`${where}.outlierPathPattern`, s.outlierPathPattern, ['{index}'], `{index}.outliers.${s.outlierExt}`, compression, bad);
		return s;
	}

	function categoricalTuple(where, t, outlierQuantized, nPoints, bad) {
		if (!Array.isArray(t) || t.length !== (outlierQuantized ? 8 : 6)) {
			return bad(`${where} has ${Array.isArray(t) ? t.length : 'no'} elements, expected ${outlierQuantized ? 8 : 6}`);
		}
		const [, , categories, dtype, missing, centroids, oMin, oMax] = t;
		const scalar = v => typeof v === 'string' || typeof v === 'boolean' || isNumber(v);
		if (!Array.isArray(categories) || !categories.every(scalar) || new Set(categories.map(show)).size !== categories.length) {
			bad(`${where}: categories are not unique finite scalars`);
			return;
		}
		const codes = CODES[dtype];
		if (!codes) return bad(`${where}: codes dtype ${show(dtype)} is not uint8 or uint16`);
		if (missing !== codes.missing) bad(`${where}: missing value ${show(missing)}, expected ${codes.missing}`);
		if (categories.length > codes.max) bad(`${where}: ${categories.length} categories do not fit ${dtype}`);
		if (outlierQuantized && !(isNumber(oMin) && isNumber(oMax) && oMin <= oMax)) bad(`${where}: outlier bounds are not finite min <= max`);
		if (!isObject(centroids)) return bad(`${where}: centroids are not an object`);
		const known = new Set(categories.map(show));
		for (const [dim, list] of Object.entries(centroids)) {
			if (!['1', '2', '3'].includes(dim) || !Array.isArray(list)) {
				bad(`${where}: centroids key ${show(dim)} is not 1, 2 or 3 with a list`);
				continue;
			}
			const seen = new Set();
			list.forEach((c, i) => {
				const at = `${where}: centroids[${dim}][${i}]`;
				if (!closed(at, c, ['category', 'position', 'n_points'], [], bad)) return;
				if (!known.has(show(c.category)) || seen.has(show(c.category))) bad(`${at}: category ${show(c.category)} is unknown or repeated`);
				seen.add(show(c.category));
				if (!Array.isArray(c.position) || c.position.length !== Number(dim) || !c.position.every(isNumber)) {
					bad(`${at}: position is not ${dim} finite numbers`);
				}
				if (!Number.isInteger(c.n_points) || c.n_points < 0 || c.n_points > nPoints) bad(`${at}: n_points ${show(c.n_points)} is out of range`);
			});
		}
	}

	function varManifest(doc) {
		const { list, bad } = collector();
		if (!closed('the var manifest', doc, ['_format', 'n_points', 'var_gene_id_column', 'compression', 'quantization',
			'_varSchema', 'fields'], [], bad)) return list;
		header(doc, bad);
		if (doc.var_gene_id_column !== null && !isText(doc.var_gene_id_column)) bad('var_gene_id_column is not null or a non-empty string');
		const s = valueSchema('_varSchema', doc._varSchema, ['kind'], '.values', doc.compression, bad);
		if (!s) return list;
		if (s.kind !== 'continuous') bad(`_varSchema.kind ${show(s.kind)}, expected "continuous"`);
		const quantized = s.quantized === true;
		if (doc.quantization !== (quantized ? s.quantizationBits : null)) {
			bad(`quantization ${show(doc.quantization)} does not match _varSchema (${quantized ? s.quantizationBits : 'null'})`);
		}
		if (!Array.isArray(doc.fields)) return [...list, 'fields is not an array'];
		doc.fields.forEach((t, i) => valueTuple(`fields[${i}]`, t, quantized, bad));
		if (list.length === 0) indexSpace('gene', doc.fields, bad);
		return list;
	}

	/* ---------- connectivity_manifest.json and the edges (§6) ---------- */

	function connectivity(doc, identity) {
		const { list, bad } = collector();
		const paths = ['sourcesPath', 'destinationsPath', 'weightsPath'];
		if (!closed('the connectivity manifest', doc, ['format', 'n_cells', 'n_edges', 'max_neighbors', 'index_bytes',
			'index_dtype', ...paths, 'weight_bytes', 'weight_dtype', 'compression'], [], bad)) return list;
		const n = doc.n_cells, e = doc.n_edges;
		if (doc.format !== 'edge_pairs') bad(`format ${show(doc.format)}, expected "edge_pairs"`);
		if (!Number.isSafeInteger(n) || n < 1 || n > 2 ** 32 || n !== identity.stats.n_cells) bad(`n_cells ${show(n)} is not the identity's ${identity.stats.n_cells}`);
		if (!isCount(e) || e > n * (n - 1) / 2 || e !== identity.stats.n_edges) bad(`n_edges ${show(e)} is not the identity's ${identity.stats.n_edges}`);
		const m = doc.max_neighbors;
		if (!isCount(m) || m > Math.min(n - 1, e) || (m === 0) !== (e === 0)) bad(`max_neighbors ${show(m)} is out of range`);
		const [dtype, bytes] = n <= 65536 ? ['uint16', 2] : ['uint32', 4];
		if (doc.index_dtype !== dtype || doc.index_bytes !== bytes) bad(`index ${show(doc.index_dtype)}/${show(doc.index_bytes)}, expected ${dtype}/${bytes}`);
		if (doc.weight_dtype !== 'float64' || doc.weight_bytes !== 8) bad('weights are not float64/8');
		if (!compressionOk(doc.compression)) bad(`compression ${show(doc.compression)} is not null or 1-9`);
		for (const key of paths) {
			const problem = pathProblem(doc[key]);
			if (problem) bad(`${key} ${show(doc[key])} ${problem}`);
			else if (doc[key].endsWith('.gz') !== (doc.compression !== null)) bad(`${key} ${show(doc[key])}: .gz does not agree with compression`);
		}
		if (new Set(paths.map(k => doc[k])).size !== 3) bad('the three edge paths are not all different');
		return list;
	}

	// Each edge once with src < dst, ordered by (src, dst), indices below n_cells, weights finite
	// and positive, and the largest degree exactly max_neighbors.
	function edges(doc, src, dst, weights) {
		const degree = new Uint32Array(doc.n_cells);
		for (let i = 0; i < src.length; i++) {
			const s = src[i], d = dst[i];
			if (!(s < d)) return [`edge ${i}: source ${s} is not below destination ${d}`];
			if (d >= doc.n_cells) return [`edge ${i}: cell ${d} is past n_cells`];
			if (i > 0 && (s < src[i - 1] || (s === src[i - 1] && d <= dst[i - 1]))) return [`edge ${i} is out of order or repeated`];
			if (!(Number.isFinite(weights[i]) && weights[i] > 0)) return [`edge ${i}: weight ${weights[i]} is not finite and positive`];
			degree[s]++;
			degree[d]++;
		}
		const max = degree.reduce((a, b) => Math.max(a, b), 0);
		return max === doc.max_neighbors ? [] : [`the largest degree is ${max}, but max_neighbors is ${doc.max_neighbors}`];
	}

	/* ---------- across the files (§8) and values (§14) ---------- */

	// obs and vars are the expanded manifests: obs fields continuous first, then categorical.
	function crossFile(identity, obs, vars) {
		const { list, bad } = collector();
		const fields = identity.obs_fields;
		if (obs.length !== fields.length) bad(`the obs manifest has ${obs.length} fields, the identity ${fields.length}`);
		obs.forEach((f, i) => {
			const g = fields[i] || {};
			const same = g.key === f.key && g.kind === f.kind && (f.kind !== 'category' || g.n_categories === f.categories.length);
			if (!same) bad(`obs field ${i}: the manifest has ${show(f.key)} (${f.kind}), the identity ${show(g.key)} (${g.kind})`);
		});
		if (vars && vars.length !== identity.stats.n_genes) bad(`the var manifest has ${vars.length} genes, stats.n_genes is ${identity.stats.n_genes}`);
		return list;
	}

	function continuousValues(values, name) {
		let finite = 0;
		for (let i = 0; i < values.length; i++) {
			const v = values[i];
			if (v === Infinity || v === -Infinity) return [`${name}: cell ${i} is ${v}`];
			if (!Number.isNaN(v)) finite++;
		}
		return finite || !values.length ? [] : [`${name} has no value in any of ${values.length} cells`];
	}

	const isStrict = doc => isObject(doc) && isObject(doc._obsSchemas) &&
		Object.values(doc._obsSchemas).some(s => isObject(s) && Object.values(s).some(p => typeof p === 'string' && p.includes('{index}')));

	return { isStrict, identity, obsManifest, varManifest, connectivity, edges, crossFile, continuousValues };
})();
