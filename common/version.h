#ifndef SEPWORKER_VERSION_H
#define SEPWORKER_VERSION_H

#define SEPWORKER_VERSION	"0.1.0"

/* The commit built from, when the build knew it (GNUmakefile). */
#ifndef SEPWORKER_REVISION
#define SEPWORKER_REVISION	"unknown"
#endif

#endif
