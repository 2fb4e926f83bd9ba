/*
 * test_outside.c - the container layer keeps to the one file it was given:
 * files written here with the HDF5 C API reach outside themselves through
 * external storage (a plain secret file), external links (into a second
 * HDF5 file), soft links crossing those (absolute, relative, looping),
 * a user-defined link and a virtual dataset, and each is refused with one
 * line naming the element before a byte of the other file is read; a FIFO
 * as the source is refused without blocking; an open store holds no lock,
 * so that a writer may take one.
 */
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cn.h"
#include "check.h"
#include "cn_test.h"

static char tmpdir[64];

static char secret[160], other[160], hostile[160];
static const char SECRET[] = "TOPSECRET-0123456789abcdef";

static hid_t no_traversal(const char *name, hid_t cur, const void *udata, size_t size,
			   hid_t lapl, hid_t dxpl)
{
	(void)name; (void)cur; (void)udata; (void)size; (void)lapl; (void)dxpl;
	return -1;
}

static void write_hostile(void)
{
	static const H5L_class_t ud = { H5L_LINK_CLASS_T_VERS, (H5L_type_t)99, "test", NULL,
					NULL, NULL, no_traversal, NULL, NULL };
	hsize_t n = sizeof SECRET - 1;
	hid_t f, space = H5Screate_simple(1, &n, NULL), dcpl;
	FILE *fp = fopen(secret, "w");

	if (fp) {
		fputs(SECRET, fp);
		fclose(fp);
	}
	f = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	put(f, "data", H5T_STD_U8LE, H5T_NATIVE_UCHAR, 1, &n, NULL, 0, SECRET);
	H5Gclose(H5Gcreate2(f, "grp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
	put(f, "grp/x", H5T_STD_U8LE, H5T_NATIVE_UCHAR, 1, &n, NULL, 0, SECRET);
	H5Fclose(f);

	f = H5Fcreate(hostile, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	dcpl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_external(dcpl, secret, 0, n);
	H5Dclose(H5Dcreate2(f, "ext", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
	H5Pclose(dcpl);
	dcpl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_virtual(dcpl, space, other, "/data", space);
	H5Dclose(H5Dcreate2(f, "vds", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
	H5Pclose(dcpl);
	H5Lcreate_external(other, "/data", f, "elink", H5P_DEFAULT, H5P_DEFAULT);
	H5Gclose(H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
	H5Lcreate_external(other, "/grp", f, "g/elink", H5P_DEFAULT, H5P_DEFAULT);
	H5Lcreate_soft("/g/elink/x", f, "soft", H5P_DEFAULT, H5P_DEFAULT);
	H5Lcreate_soft("elink", f, "rel", H5P_DEFAULT, H5P_DEFAULT);
	H5Lcreate_soft("loop", f, "loop", H5P_DEFAULT, H5P_DEFAULT);
	put(f, "okay", H5T_STD_U8LE, H5T_NATIVE_UCHAR, 1, &n, NULL, 0, "harmless-bytes-0123456789");
	put(f, "g/sub", H5T_STD_U8LE, H5T_NATIVE_UCHAR, 1, &n, NULL, 0, "harmless-bytes-0123456789");
	H5Lcreate_soft("sub", f, "g/fine", H5P_DEFAULT, H5P_DEFAULT);
	H5Lcreate_soft("/okay", f, "g/fine2", H5P_DEFAULT, H5P_DEFAULT);
	H5Lregister(&ud);
	H5Lcreate_ud(f, "ud", (H5L_type_t)99, NULL, 0, H5P_DEFAULT, H5P_DEFAULT);
	H5Lunregister((H5L_type_t)99);
	H5Sclose(space);
	H5Fclose(f);
}

/* The call fails with exactly the message want (with %s: the other file). */
static int refused(ad_err e, const char *want, const char *file)
{
	char msg[512];

	snprintf(msg, sizeof msg, want, file);
	if (strcmp(err, msg))
		printf("# got \"%s\"\n# want \"%s\"\n", err, msg);
	return e == AD_EUNSUPPORTED && !strcmp(err, msg);
}

static void test_outside(void)
{
	cn_store *s;
	cn_array *a = NULL;
	unsigned char buf[64] = "";
	char *str = NULL, **names = NULL;
	size_t n = 0;

	snprintf(secret, sizeof secret, "%s/secret.txt", tmpdir);
	snprintf(other, sizeof other, "%s/other.h5", tmpdir);
	snprintf(hostile, sizeof hostile, "%s/hostile.h5", tmpdir);
	write_hostile();
	s = open_store(hostile);
	CHECK(s != NULL, "a file reaching outside itself opens");
	if (!s)
		return;
	CHECK(refused(cn_array_open(s, "ext", &a), "ext: stored in another file (%s): refused",
		      secret) && !a, "external storage is refused");
	CHECK(refused(cn_array_open(s, "vds", &a), "vds: a virtual dataset (mapped from %s): refused",
		      other), "a virtual dataset is refused");
	CHECK(cn_kind_of(s, "elink") == CN_REFUSED && cn_exists(s, "elink") &&
	      refused(cn_check(s, "elink"), "elink: a link to another file (%s): refused", other),
	      "an external link is refused");
	CHECK(cn_kind_of(s, "g/elink/x") == CN_REFUSED &&
	      refused(cn_array_open(s, "g/elink/x", &a), "g/elink: a link to another file (%s): refused",
		      other), "so is a path that passes through one");
	CHECK(refused(cn_array_open(s, "soft", &a), "/g/elink: a link to another file (%s): refused",
		      other), "and a soft link whose target passes through one");
	CHECK(refused(cn_check(s, "rel"), "/elink: a link to another file (%s): refused", other),
	      "also when the target is relative");
	CHECK(refused(cn_check(s, "ud"), "ud: a user-defined link: refused%s", ""),
	      "a user-defined link is refused");
	CHECK(refused(cn_check(s, "loop"), "/loop: soft links nested too deeply: refused%s", ""),
	      "a soft link to itself ends");
	CHECK(refused(cn_list(s, "g/elink", &names, &n),
		      "g/elink: a link to another file (%s): refused", other) && !names && !n,
	      "nothing is listed there");
	snprintf(err, sizeof err, "earlier");
	CHECK(cn_attr_string(s, "elink", "encoding-type", &str) == -1 &&
	      cn_attr_exists(s, "elink", "x") == -1 && !strcmp(err, "earlier"),
	      "attributes of a refused element cannot be read; the questions leave no error");
	CHECK(cn_array_open(s, "g/fine", &a) == AD_OK && cn_read(a, NULL, CN_I8, 0, 9, buf) == AD_OK &&
	      !memcmp(buf, "harmless-", 9), "a relative soft link inside the file is followed");
	cn_array_close(a);
	CHECK(cn_array_open(s, "g/fine2", &a) == AD_OK, "also an absolute one");
	cn_array_close(a);
	cn_close(s);
}

/* A FIFO as the source fails at once (an ordinary open would wait for a
 * writer for ever); the file is not locked while open, so that another
 * program may rewrite it. */
static void test_source_file(void)
{
	char fifo[160];
	cn_store *s = NULL;
	int fd;

	snprintf(fifo, sizeof fifo, "%s/fifo.h5ad", tmpdir);
	CHECK(mkfifo(fifo, 0600) == 0, "mkfifo");
	CHECK(cn_open(fifo, err, sizeof err, &s) == AD_EFORMAT && !s &&
	      !strcmp(err, "not a regular file"), "a FIFO is refused without blocking (%s)", err);
	unlink(fifo);
	s = open_store(hostile);
	fd = open(hostile, O_RDWR);
	CHECK(s && fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0,
	      "the open store holds no lock: a writer may lock it exclusively");
	if (fd >= 0)
		close(fd);
	cn_close(s);
}

int main(void)
{
	cn_thread_init();
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	strcpy(tmpdir, "/tmp/test_outside.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		CHECK(0, "mkdtemp");
		return CHECK_DONE();
	}
	test_outside();
	test_source_file();
	CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == 0, "every HDF5 object closed");
	unlink(hostile);
	unlink(other);
	unlink(secret);
	CHECK(rmdir(tmpdir) == 0, "temporary files removed");
	return CHECK_DONE();
}
