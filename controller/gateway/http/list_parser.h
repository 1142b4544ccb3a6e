#pragma once

// A single-pass reader for the list answer (ListJobsResponse), the largest
// and most frequent body the client reads: a 6,000-job page is ~3 MB. It
// builds RemoteJobs straight from the text instead of a JSON tree first
// (nlohmann's DOM costs ~60 ms per 6,000 jobs here; this ~10x less).
//
// Same contract as ParseListJobsResponse in controller/gateway/gateway_json.h
// (which stays the reference; tests/gateway/list_parser_test.cc checks the two
// agree on generated and mutated bodies): strict RFC 8259 JSON incl. UTF-8
// and \u escapes, unknown fields skipped, a later duplicate key wins, the same
// error messages for missing or mistyped fields.

#include <string_view>

#include "controller/core/result.h"
#include "controller/gateway/gateway_json.h"

namespace mlspace::gateway::http {

Result<ListPage> ParseListAnswer(std::string_view body);

}  // namespace mlspace::gateway::http
