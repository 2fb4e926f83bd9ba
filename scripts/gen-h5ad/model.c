/*
 * model.c - everything about clusters and genes, drawn once from S_MODEL:
 * cluster sizes and cell types, their islands in each UMAP, their centres
 * in the latent space, gene names, popularity and markers; and per cell,
 * from S_CELLS, the cluster, phase and batch.
 */
#include "gen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Gene and cell-type vocabulary.                                            */

/* Each cell type belongs to a lineage (clusters of one lineage sit near each
 * other in every embedding) and names its marker genes. The names contain
 * spaces, '+', '/', parentheses and non-ASCII text, as real annotations do. */
static const struct {
	const char *name;
	int lineage;
	const char *markers;
} TYPES[] = {
	{"CD4+ naive T cells", 0, "CD3D CD3E IL7R CCR7 LEF1"},
	{"CD4+ memory T cells", 0, "CD3D IL7R S100A4 CD2"},
	{"CD8+ cytotoxic T cells", 0, "CD3D CD8A CD8B GZMK CCL5"},
	{"\xce\xb3\xce\xb4 T cells", 0, "TRDC TRGC1 CD3D"},   /* "γδ T cells" */
	{"NK cells", 0, "NKG7 GNLY KLRD1 PRF1"},
	{"Cycling T/NK cells", 0, "MKI67 TOP2A STMN1 CD3D"},
	{"B cells", 1, "MS4A1 CD79A CD79B HLA-DRA"},
	{"Plasma cells", 1, "JCHAIN MZB1 IGHG1"},
	{"CD14+ monocytes", 2, "CD14 LYZ S100A8 S100A9"},
	{"FCGR3A+ monocytes", 2, "FCGR3A MS4A7 LST1"},
	{"Dendritic cells (cDC2)", 2, "FCER1A CST3 HLA-DRA HLA-DQA1"},
	{"Plasmacytoid DC", 2, "LILRA4 IL3RA"},
	{"Mast cells", 2, "TPSAB1 CPA3"},
	{"Megakaryocytes", 3, "PPBP PF4"},
	{"Erythroid progenitors", 3, "HBB HBA1"},
	{"HSPC (CD34+)", 3, "CD34 SOX4"},
};
_Static_assert(sizeof TYPES / sizeof *TYPES == N_TYPES, "N_TYPES in gen.h");
#define N_LINEAGES 4

/* The first genes of var; the rest are GENE00042-style. Mitochondrial genes
 * feed pct_mito; HLA-DRA, RP11-34P13.3, TRBV20/OR9-2 and the like are there
 * because their file names need the safe-name rule (or look like they do). */
static const char *const NAMED_GENES[] = {
	"CD3D", "CD3E", "IL7R", "CCR7", "LEF1", "S100A4", "CD2", "CD8A", "CD8B",
	"GZMK", "CCL5", "TRDC", "TRGC1", "NKG7", "GNLY", "KLRD1", "PRF1", "MKI67",
	"TOP2A", "STMN1", "MS4A1", "CD79A", "CD79B", "JCHAIN", "MZB1", "IGHG1",
	"CD14", "LYZ", "S100A8", "S100A9", "FCGR3A", "MS4A7", "LST1", "FCER1A",
	"CST3", "HLA-DRA", "HLA-DQA1", "LILRA4", "IL3RA", "TPSAB1", "CPA3", "PPBP",
	"PF4", "HBB", "HBA1", "CD34", "SOX4",
	"MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3",
	"MT-ND3", "MT-ND4L", "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB",
	"RPL13", "RPS27", "MALAT1", "ACTB", "B2M", "TMSB4X", "HLA-A", "HLA-B",
	"RP11-34P13.3", "AC009501.4", "RP11-206L10.9", "TRBV20/OR9-2",
	"IGHV1/OR15-1", "LINC00115",
};
#define N_NAMED (sizeof NAMED_GENES / sizeof *NAMED_GENES)

static int type_order(const void *a, const void *b)
{
	return strcmp(TYPES[*(const int *)a].name, TYPES[*(const int *)b].name);
}

static int weight_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x < y) - (x > y);
}

static double dist(const double *a, const double *b, int d)
{
	double s = 0;
	for (int i = 0; i < d; i++)
		s += (a[i] - b[i]) * (a[i] - b[i]);
	return sqrt(s);
}

/* A random unit vector / an orthonormal basis (Gram-Schmidt of normals). */
static void direction(rng *r, int d, double *v)
{
	double n;
	do {
		n = 0;
		for (int i = 0; i < d; i++) {
			v[i] = normal(r);
			n += v[i] * v[i];
		}
	} while (n < 1e-12);
	for (int i = 0; i < d; i++)
		v[i] /= sqrt(n);
}

static void basis(rng *r, int d, double axis[3][3])
{
	for (int i = 0; i < d; i++) {
		for (;;) {
			direction(r, d, axis[i]);
			for (int j = 0; j < i; j++) {
				double dot = 0;
				for (int c = 0; c < d; c++)
					dot += axis[i][c] * axis[j][c];
				for (int c = 0; c < d; c++)
					axis[i][c] -= dot * axis[j][c];
			}
			double n = 0;
			for (int c = 0; c < d; c++)
				n += axis[i][c] * axis[i][c];
			if (n > 1e-6) {
				for (int c = 0; c < d; c++)
					axis[i][c] /= sqrt(n);
				break;
			}
		}
	}
}

/* Lay out the islands of one d-dimensional embedding: lineages around the
 * origin, clusters around their lineage, no two islands overlapping. Each
 * failed try widens the search a little; after 1000 the island stays where
 * it is, so this always ends. */
static void layout(model *m, rng *r, int d, island *isl)
{
	double lineage[N_LINEAGES][3] = {{0}};
	for (int l = 0; l < N_LINEAGES; l++) {
		direction(r, d, lineage[l]);
		double radius = 6 + 3 * unit(r);
		for (int c = 0; c < d; c++)
			lineage[l][c] *= radius;
	}
	for (int i = 0; i < m->k; i++) {
		island *s = &isl[i];
		double size = 0.8 + 2.4 * sqrt(m->weight[i] / m->weight[0]);
		basis(r, d, s->axis);
		s->sd[0] = 0.4 * size;
		for (int c = 1; c < d; c++)
			s->sd[c] = s->sd[0] * (0.35 + 0.65 * unit(r));
		s->bend = (unit(r) - 0.5) * 0.6 / size;
		s->lobes = 1 + (int)below(r, MAX_LOBES);
		s->radius = 2.2 * s->sd[0];
		for (int l = 0; l < s->lobes; l++) {
			double off = l ? 1.2 * s->sd[0] * (0.6 + 0.6 * unit(r)) : 0;
			direction(r, d, s->lobe[l]);
			for (int c = 0; c < d; c++)
				s->lobe[l][c] *= off;
			s->lobe_scale[l] = l ? 0.45 + 0.35 * unit(r) : 1;
			if (off + 2.2 * s->sd[0] * s->lobe_scale[l] > s->radius)
				s->radius = off + 2.2 * s->sd[0] * s->lobe_scale[l];
		}
		const double *home = lineage[TYPES[m->type[i]].lineage];
		double reach = 1 + 2 * size;
		for (int attempt = 0;; attempt++, reach *= 1.02) {
			double dir[3];
			direction(r, d, dir);
			double step = reach * unit(r);
			for (int c = 0; c < d; c++)
				s->centre[c] = home[c] + dir[c] * step;
			int clear = 1;
			for (int j = 0; j < i && clear; j++)
				clear = dist(s->centre, isl[j].centre, d) > 1.05 * (s->radius + isl[j].radius);
			if (clear || attempt > 1000)
				break;
		}
	}
}

static int gene_index(const model *m, const char *name)
{
	for (uint32_t g = 0; g < m->n_genes && g < N_NAMED; g++)
		if (!strcmp(m->gene[g], name))
			return (int)g;
	return -1;
}

void model_free(model *m)
{
	for (uint32_t g = 0; g < m->n_genes; g++)
		free(m->gene[g]);
	free(m->gene);
	free(m->popularity);
	free(m->marker);
	free(m->mito);
	free(m->variable);
	free(m->cluster);
	free(m->phase);
	free(m->batch);
}

void model_build(model *m)
{
	rng r;
	rng_init(&r, m->seed, S_MODEL);
	uint32_t G = m->n_genes;

	/* Cluster sizes: log-normal shares, largest first. */
	m->k = 12 + (int)below(&r, 9);
	double total = 0;
	for (int i = 0; i < m->k; i++)
		total += m->weight[i] = exp(0.9 * normal(&r));
	for (int i = 0; i < m->k; i++)
		m->weight[i] /= total;
	qsort(m->weight, (size_t)m->k, sizeof *m->weight, weight_desc);

	/* Cell types: a few types are split into two clusters, as leiden does. */
	int perm[N_TYPES];
	for (size_t i = 0; i < N_TYPES; i++)
		perm[i] = (int)i;
	for (size_t i = N_TYPES - 1; i > 0; i--) {
		uint32_t j = below(&r, (uint32_t)i + 1);
		int t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	m->n_used = m->k - 3 < (int)N_TYPES ? m->k - 3 : (int)N_TYPES;
	for (int i = 0; i < m->k; i++)
		m->type[i] = i < m->n_used ? perm[i] : perm[below(&r, (uint32_t)m->n_used)];
	memcpy(m->used, perm, sizeof(int) * (size_t)m->n_used);
	qsort(m->used, (size_t)m->n_used, sizeof *m->used, type_order);
	for (int c = 0; c < m->n_used; c++)
		m->type_code[m->used[c]] = c;

	layout(m, &r, 2, m->umap2);
	layout(m, &r, 3, m->umap3);

	/* A sister is the nearest other cluster of the same lineage in 2-D: the
	 * few cells between them make the bridges seen in real UMAPs. */
	for (int i = 0; i < m->k; i++) {
		double best = INFINITY;
		m->sister[i] = -1;
		for (int j = 0; j < m->k; j++) {
			double dd = dist(m->umap2[i].centre, m->umap2[j].centre, 2);
			if (j != i && TYPES[m->type[j]].lineage == TYPES[m->type[i]].lineage && dd < best) {
				best = dd;
				m->sister[i] = j;
			}
		}
	}

	/* Latent space: lineage centre + cluster offset, variance decaying with
	 * the component index as in a real PCA. */
	float lin[N_LINEAGES][N_PCS];
	for (int l = 0; l < N_LINEAGES; l++)
		for (int j = 0; j < N_PCS; j++)
			lin[l][j] = (float)(6 * normal(&r) / sqrt(1 + 0.3 * j));
	for (int i = 0; i < m->k; i++)
		for (int j = 0; j < N_PCS; j++)
			m->pca_centre[i][j] = lin[TYPES[m->type[i]].lineage][j] +
					      (float)(3 * normal(&r) / sqrt(1 + 0.3 * j));

	/* Gene names. */
	m->gene = xmalloc(G, sizeof *m->gene);
	for (uint32_t g = 0; g < G; g++) {
		char buf[32];
		if (g < N_NAMED)
			snprintf(buf, sizeof buf, "%s", NAMED_GENES[g]);
		else
			snprintf(buf, sizeof buf, "GENE%05u", g + 1);
		if (!(m->gene[g] = strdup(buf)))
			die("out of memory");
	}

	/* Popularity: a random rank per gene, except that mitochondrial and
	 * housekeeping genes are among the most popular, as in real data. */
	uint32_t *rank = xmalloc(G, sizeof *rank);
	for (uint32_t g = 0; g < G; g++)
		rank[g] = g;
	for (uint32_t g = G - 1; g > 0; g--) {
		uint32_t j = below(&r, g + 1), t = rank[g];
		rank[g] = rank[j];
		rank[j] = t;
	}
	m->mito = xmalloc(G, 1);
	uint32_t top = 0;
	for (uint32_t g = 0; g < G && g < N_NAMED; g++) {
		const char *n = m->gene[g];
		m->mito[g] = !strncmp(n, "MT-", 3);
		if (m->mito[g] || !strncmp(n, "RPL", 3) || !strncmp(n, "RPS", 3) || !strcmp(n, "MALAT1") ||
		    !strcmp(n, "ACTB") || !strcmp(n, "B2M") || !strcmp(n, "TMSB4X")) {
			/* give gene g rank 3*top, swapping with whoever had it */
			uint32_t want = 3 * top < G ? 3 * top : G - 1;
			top++;
			for (uint32_t h = 0; h < G; h++)
				if (rank[h] == want) {
					rank[h] = rank[g];
					break;
				}
			rank[g] = want;
		}
	}
	m->popularity = xmalloc(G, sizeof *m->popularity);
	for (uint32_t g = 0; g < G; g++)
		m->popularity[g] = pow(rank[g] + 1.0, -0.8);
	free(rank);

	/* Markers: the cell type's named markers plus ~1% random genes. */
	m->marker = xmalloc((size_t)m->k * G, 1);
	m->variable = xmalloc(G, 1);
	uint32_t extra = G / 100 > 3 ? G / 100 : 3;
	for (int i = 0; i < m->k; i++) {
		uint8_t *mk = m->marker + (size_t)i * G;
		char list[128];
		snprintf(list, sizeof list, "%s", TYPES[m->type[i]].markers);
		for (char *save, *t = strtok_r(list, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
			int g = gene_index(m, t);
			if (g >= 0)
				mk[g] = 1;
		}
		for (uint32_t e = 0; e < extra; e++)
			mk[below(&r, G)] = 1;
		for (uint32_t g = 0; g < G; g++)
			m->variable[g] |= mk[g] && !m->mito[g];
	}
	for (uint32_t g = 0; g < G; g++)
		if (unit(&r) < 0.03 && !m->mito[g])
			m->variable[g] = 1;

	/* Per cell: cluster, cell-cycle phase (cycling types are mostly in S or
	 * G2M) and batch. */
	rng_init(&r, m->seed, S_CELLS);
	m->cluster = xmalloc(m->n_cells, 1);
	m->phase = xmalloc(m->n_cells, sizeof *m->phase);
	m->batch = xmalloc(m->n_cells, sizeof *m->batch);
	for (uint32_t i = 0; i < m->n_cells; i++) {
		double u = unit(&r), acc = 0;
		int c = m->k - 1;
		for (int j = 0; j < m->k - 1; j++)
			if (u < (acc += m->weight[j])) {
				c = j;
				break;
			}
		m->cluster[i] = (uint8_t)c;
		int cycling = strstr(TYPES[m->type[c]].name, "Cycling") != NULL;
		double p = unit(&r);
		m->phase[i] = cycling ? (p < 0.2 ? 0 : p < 0.6 ? 1 : 2) : (p < 0.6 ? 0 : p < 0.8 ? 1 : 2);
		double b = unit(&r);
		m->batch[i] = b < 0.45 ? 0 : b < 0.8 ? 1 : 2;
	}
}

const char *type_name(int type)
{
	return TYPES[type].name;
}
