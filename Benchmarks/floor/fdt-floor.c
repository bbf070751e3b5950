/*
 * fdt-floor BLOB [REPEAT] -- the C floor for `scmi-dt check`: what reading a blob
 * costs with libfdt and nothing else. Reads the file, runs fdt_check_full (the
 * check every libfdt reader should make first), then visits every node and every
 * property, fetching each property's name and summing its value's bytes so that
 * no read can be optimised away. Prints the node and property counts and the sum.
 *
 * Built by Benchmarks/bench.sh with the system compiler against Debian's libfdt-dev:
 *   cc -O2 -o fdt-floor Benchmarks/floor/fdt-floor.c -lfdt
 */
#include <libfdt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *read_file(const char *path, size_t *size)
{
	FILE *file = fopen(path, "rb");
	if (!file) {
		perror(path);
		exit(2);
	}
	fseek(file, 0, SEEK_END);
	long length = ftell(file);
	fseek(file, 0, SEEK_SET);
	void *bytes = malloc(length > 0 ? (size_t)length : 1);
	if (!bytes || fread(bytes, 1, (size_t)length, file) != (size_t)length) {
		fprintf(stderr, "%s: cannot read\n", path);
		exit(2);
	}
	fclose(file);
	*size = (size_t)length;
	return bytes;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: fdt-floor BLOB [REPEAT]\n");
		return 2;
	}
	int repeat = argc > 2 ? atoi(argv[2]) : 1;
	unsigned long nodes = 0, properties = 0, sum = 0;
	for (int run = 0; run < repeat; run++) {
		size_t size;
		void *fdt = read_file(argv[1], &size);
		int error = fdt_check_full(fdt, size);
		if (error) {
			fprintf(stderr, "%s: %s\n", argv[1], fdt_strerror(error));
			return 1;
		}
		nodes = properties = 0;
		for (int node = 0; node >= 0; node = fdt_next_node(fdt, node, NULL)) {
			int name_length;
			const char *name = fdt_get_name(fdt, node, &name_length);
			sum += name ? (unsigned char)name[0] + (unsigned)name_length : 0;
			nodes++;
			int property;
			fdt_for_each_property_offset(property, fdt, node) {
				const char *property_name;
				int length;
				const uint8_t *value = fdt_getprop_by_offset(fdt, property, &property_name, &length);
				sum += (unsigned char)property_name[0];
				for (int i = 0; value && i < length; i++)
					sum += value[i];
				properties++;
			}
		}
		free(fdt);
	}
	printf("%lu nodes, %lu properties, checksum %lu\n", nodes, properties, sum);
	return 0;
}
