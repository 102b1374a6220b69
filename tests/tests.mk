# Test binaries.  Every tests/unit/test_*.c and tests/sandbox/test_*.c is a
# cmocka program built to $(BUILD)/tests/; extra objects and pkg-config
# packages a test needs are listed as test_<name>_SRCS / test_<name>_PKGS.
# tests/helpers/*.c are small programs the shell tests drive.

TEST_DIR	:= $(BUILD)/tests
TEST_SRCS	:= $(wildcard tests/unit/test_*.c tests/sandbox/test_*.c)
TEST_NAMES	:= $(basename $(notdir $(TEST_SRCS)))
HELPER_SRCS	:= $(wildcard tests/helpers/*.c)
HELPERS		:= $(patsubst tests/helpers/%.c,$(TEST_DIR)/helpers/%,$(HELPER_SRCS))

CFLAGS		+= $(shell $(PKG_CONFIG) --cflags cmocka 2>/dev/null)

test_test_ipc_SRCS		:=
test_test_log_SRCS		:=
test_test_memfd_SRCS		:=
test_test_secmem_PKGS		:= libsodium
test_test_edkey_PKGS		:= libsodium
test_test_cot_SRCS		:= supervisor/cot.c keyholder/sign.c \
				   common/jsonscan.c common/json.c
test_test_cot_PKGS		:= json-c
test_test_sandbox_policy_SRCS	:= keyholder/policy.c proxyd/policy.c \
				   taskrunner/policy.c
test_test_sandbox_policy_PKGS	:= libseccomp libsodium
test_test_jsonscan_SRCS		:= common/jsonscan.c
test_test_cotextra_SRCS		:= taskrunner/cotextra.c common/json.c \
				   common/jsonscan.c
test_test_cotextra_PKGS		:= json-c
test_test_json_SRCS		:= common/json.c common/jsonscan.c
test_test_json_PKGS		:= json-c
test_test_config_SRCS		:= supervisor/config.c common/json.c \
				   common/jsonscan.c proxyd/limits.c
test_test_config_PKGS		:= json-c libsodium
test_test_privop_SRCS		:= supervisor/privop.c supervisor/cgroup.c \
				   supervisor/config.c proxyd/limits.c \
				   common/json.c common/jsonscan.c
test_test_privop_PKGS		:= json-c libsodium
test_test_payload_SRCS		:= taskrunner/payload.c taskrunner/schema.c \
				   taskrunner/schema_blob.c common/json.c \
				   common/jsonscan.c
test_test_payload_PKGS		:= json-c
test_test_schema_SRCS		:= taskrunner/schema.c taskrunner/payload.c \
				   taskrunner/schema_blob.c common/json.c \
				   common/jsonscan.c
test_test_schema_PKGS		:= json-c
test_test_taskuid_SRCS		:= supervisor/taskuid.c supervisor/config.c \
				   common/json.c common/jsonscan.c proxyd/limits.c
test_test_taskuid_PKGS		:= json-c libsodium
test_test_taskcount_SRCS	:= supervisor/taskcount.c
test_test_limits_SRCS		:= proxyd/limits.c
test_test_outdir_SRCS		:= supervisor/outdir.c
test_test_outdir_PKGS		:= libcrypto
test_test_route_SRCS		:= proxyd/route.c
test_test_creds_SRCS		:= proxyd/creds.c common/json.c \
				   common/jsonscan.c
test_test_creds_PKGS		:= json-c libsodium
test_test_hawk_SRCS		:= proxyd/hawk.c common/jsonscan.c
test_test_hawk_PKGS		:= libsodium
test_test_issue_SRCS		:= proxyd/issue.c proxyd/hawk.c proxyd/creds.c \
				   common/json.c common/jsonscan.c
test_test_issue_PKGS		:= json-c libsodium
test_test_url_SRCS		:= proxyd/url.c proxyd/hawk.c common/jsonscan.c
test_test_url_PKGS		:= libsodium
test_test_qclient_SRCS		:= proxyd/qclient.c proxyd/backoff.c \
				   proxyd/hawk.c proxyd/url.c common/json.c \
				   common/jsonscan.c
test_test_qclient_PKGS		:= libcurl json-c libsodium libcrypto
test_test_reclaim_SRCS		:= proxyd/reclaim_time.c
test_test_claim_SRCS		:= proxyd/claim.c proxyd/creds.c common/json.c \
				   common/jsonscan.c
test_test_claim_PKGS		:= json-c libsodium

define test_program
$(TEST_DIR)/$(1): $(call obj,$(filter %/$(1).c,$(TEST_SRCS)) $(test_$(1)_SRCS)) $(COMMON_LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(call libs,cmocka libseccomp $(test_$(1)_PKGS))
endef
$(foreach t,$(TEST_NAMES),$(eval $(call test_program,$(t))))

helper_drive_child_SRCS		:= supervisor/spawn.c supervisor/cot.c \
				   common/jsonscan.c
helper_drive_child_PKGS		:= libsodium
helper_taskproxy_SRCS		:= supervisor/spawn.c
helper_proxyd_worker_SRCS	:= supervisor/spawn.c proxyd/creds.c \
				   common/json.c common/jsonscan.c
helper_proxyd_worker_PKGS	:= json-c libsodium
helper_qcall_SRCS		:= proxyd/qclient.c proxyd/backoff.c \
				   proxyd/hawk.c proxyd/url.c proxyd/creds.c \
				   common/json.c common/jsonscan.c
helper_qcall_PKGS		:= libcurl json-c libsodium libcrypto

define helper_program
$(TEST_DIR)/helpers/$(1): $(call obj,tests/helpers/$(1).c $(helper_$(1)_SRCS)) $(COMMON_LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $(if $(helper_$(1)_PKGS),$$(call libs,$(helper_$(1)_PKGS)))
endef
$(foreach h,$(notdir $(basename $(HELPER_SRCS))),$(eval $(call helper_program,$(h))))

build-tests: $(addprefix $(TEST_DIR)/,$(TEST_NAMES)) $(HELPERS)

# libFuzzer targets: tests/fuzz/fuzz_*.c, each with the sources it drives.
FUZZ_DIR	:= $(BUILD)/fuzz
FUZZ_SRCS	:= $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES	:= $(basename $(notdir $(FUZZ_SRCS)))
FUZZ_CFLAGS	:= -std=gnu11 -g -O1 -D_GNU_SOURCE -I. \
		   -DSEPWORKER_RELAXED_SANDBOX \
		   -fsanitize=fuzzer,address,undefined \
		   -fno-sanitize-recover=undefined \
		   $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
fuzz_fuzz_ipc_SRCS		:= common/ipc.c common/util.c common/log.c \
				   common/timefmt.c common/utf8.c
fuzz_fuzz_logrelay_SRCS		:= supervisor/logrelay.c common/log.c \
				   common/timefmt.c common/utf8.c
fuzz_fuzz_jsonscan_SRCS		:= common/jsonscan.c
fuzz_fuzz_jsonscan_PKGS		:= json-c
fuzz_fuzz_json_SRCS		:= common/json.c common/jsonscan.c \
				   common/util.c common/log.c common/timefmt.c \
				   common/utf8.c
fuzz_fuzz_json_PKGS		:= json-c
fuzz_fuzz_cot_SRCS		:= supervisor/cot.c keyholder/sign.c \
				   common/jsonscan.c common/util.c common/log.c \
				   common/timefmt.c common/utf8.c common/strbuf.c
fuzz_fuzz_payload_SRCS		:= taskrunner/payload.c taskrunner/schema.c \
				   taskrunner/schema_blob.c common/json.c \
				   common/jsonscan.c common/util.c common/log.c \
				   common/timefmt.c common/utf8.c
fuzz_fuzz_payload_PKGS		:= json-c
fuzz_fuzz_route_SRCS		:= proxyd/route.c common/util.c common/log.c \
				   common/timefmt.c common/utf8.c
fuzz_fuzz_creds_SRCS		:= proxyd/creds.c common/json.c \
				   common/jsonscan.c common/secmem.c \
				   common/util.c common/log.c common/timefmt.c \
				   common/utf8.c common/strbuf.c
fuzz_fuzz_creds_PKGS		:= json-c libsodium
fuzz_fuzz_hawk_SRCS		:= proxyd/hawk.c common/jsonscan.c common/util.c \
				   common/log.c common/timefmt.c common/utf8.c \
				   common/strbuf.c
fuzz_fuzz_hawk_PKGS		:= libsodium
fuzz_fuzz_bewit_SRCS		:= proxyd/url.c proxyd/hawk.c common/jsonscan.c \
				   common/util.c common/log.c common/timefmt.c \
				   common/utf8.c common/strbuf.c
fuzz_fuzz_bewit_PKGS		:= libsodium
fuzz_fuzz_head_SRCS		:= proxyd/head.c proxyd/route.c common/util.c \
				   common/log.c common/timefmt.c common/utf8.c
fuzz_fuzz_claim_SRCS		:= proxyd/claim.c proxyd/creds.c common/json.c \
				   common/jsonscan.c common/secmem.c \
				   common/slugid.c common/util.c common/log.c \
				   common/timefmt.c common/utf8.c common/strbuf.c
fuzz_fuzz_claim_PKGS		:= json-c libsodium
# The task proxy's whole HTTP side; the file stands in for taskproxy.c and
# peer.c, and watches the loop's epoll_wait and accept4 (renamed for it).
fuzz_fuzz_taskproxy_SRCS	:= proxyd/server.c proxyd/forward.c \
				   proxyd/head.c proxyd/route.c proxyd/limits.c \
				   proxyd/url.c proxyd/hawk.c proxyd/backoff.c \
				   common/jsonscan.c common/util.c common/log.c \
				   common/timefmt.c common/utf8.c common/strbuf.c
fuzz_fuzz_taskproxy_PKGS	:= libcurl libssl libcrypto libsodium
fuzz_fuzz_taskproxy_CFLAGS	:= -Depoll_wait=fuzz_epoll_wait \
				   -Daccept4=fuzz_accept4 -pthread

define fuzz_program
$(FUZZ_DIR)/$(1): tests/fuzz/$(1).c $(fuzz_$(1)_SRCS)
	@mkdir -p $$(dir $$@)
	clang $$(FUZZ_CFLAGS) $(fuzz_$(1)_CFLAGS) -o $$@ $$^ \
	    $$(call libs,$(fuzz_$(1)_PKGS))
endef
$(foreach t,$(FUZZ_NAMES),$(eval $(call fuzz_program,$(t))))

fuzz-build: $(addprefix $(FUZZ_DIR)/,$(FUZZ_NAMES))

# Benchmarks (make bench): tests/bench/*.c, each with what it measures.
# (But callgrind_exec.c and noseccomp.c: proxy.sh builds them into a
# directory of its own, where they stand in for proxyd under callgrind.)
BENCH_DIR	:= $(BUILD)/bench

$(BENCH_DIR)/bench_hash: $(call obj,tests/bench/bench_hash.c supervisor/outdir.c) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(call libs,libcrypto)

$(BENCH_DIR)/bench_sign: $(call obj,tests/bench/bench_sign.c supervisor/spawn.c supervisor/cot.c common/jsonscan.c) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(call libs,libsodium)

# (agent_upload.sh drives the task proxy through the test helper)
bench-build: $(BENCH_DIR)/bench_hash $(BENCH_DIR)/bench_sign \
	$(TEST_DIR)/helpers/taskproxy
