// tests/app_standin.js - a few lines that load a dataset the way the Cellucid web app does,
// for tests/viewer_app.sh to prove its harness on when the real app is not here. Not the
// app (none of its code): it finds the data as the app does (same origin; ?remote=URL; with
// &dataset=ID, the dataset directory ID/ of that server), fetches the identity, the obs and
// var manifests, the default embedding's points, the first obs payload and the first gene,
// checks each decoded length, then shows "<n> cells" in #stats and sets
// window._cellucidState, the two things the harness waits for. Any failure is a
// console.error, which the harness must report. With ?standin=broken it also asks for a file
// that does not exist and logs that as an error (and still loads), so that the harness can be
// seen to fail.
(async function standin() {
	const params = new URLSearchParams(location.search);
	let base = new URL(params.get('remote') || '/', location.href);
	if (!base.pathname.endsWith('/')) base = new URL(base.pathname + '/', base);
	if (params.get('dataset')) base = new URL(`${encodeURIComponent(params.get('dataset'))}/`, base);
	const get = async (path) => {
		const response = await fetch(new URL(path, base));
		if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
		return response;
	};
	const json = async (path) => (await get(path)).json();
	const bytes = async (path, expected) => {
		let body = (await get(path)).body;
		if (path.endsWith('.gz')) body = body.pipeThrough(new DecompressionStream('gzip'));
		const n = (await new Response(body).arrayBuffer()).byteLength;
		if (n !== expected) throw new Error(`${path}: ${n} bytes decoded, expected ${expected}`);
	};
	try {
		const identity = await json('dataset_identity.json');
		const n = identity.stats.n_cells;
		const obs = await json('obs_manifest.json');
		const dim = identity.embeddings.default_dimension;
		await bytes(identity.embeddings.files[`${dim}d`], n * dim * 4);
		const cat = obs._categoricalFields[0];
		if (cat) {
			const ext = cat[3] === 'uint8' ? 'u8' : 'u16';
			const path = obs._obsSchemas.categorical.codesPathPattern
				.replace('{index}', cat[0]).replace('{ext}', ext);
			await bytes(path, n * (ext === 'u8' ? 1 : 2));
		}
		if (identity.stats.n_genes > 0) {
			const v = await json('var_manifest.json');
			const width = { f32: 4, u8: 1, u16: 2 }[v._varSchema.ext];
			await bytes(v._varSchema.pathPattern.replace('{index}', v.fields[0][0]), n * width);
		}
		if (params.get('standin') === 'broken') {
			const r = await fetch(new URL('no_such_manifest.json', base));
			console.error(`[standin] no_such_manifest.json: HTTP ${r.status}`);
		}
		window._cellucidState = { nCells: n };
		document.getElementById('stats').textContent = `${n.toLocaleString('en-US')} cells`;
	} catch (error) {
		console.error('[standin] the dataset did not load:', error.message);
	}
})();
