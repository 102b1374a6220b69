/*
 * taskrunner/payload-schema.json, embedded: the validator and
 * `sepworker show-payload-schema` read the same bytes, so they cannot
 * drift.  NUL-terminated.
 */
__asm__(
	".section .rodata\n"
	".global payload_schema_json\n"
	".type payload_schema_json, @object\n"
	"payload_schema_json:\n"
	".incbin \"taskrunner/payload-schema.json\"\n"
	".byte 0\n"
	".size payload_schema_json, . - payload_schema_json\n"
	".previous\n");
