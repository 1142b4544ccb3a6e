#pragma once

// The reader for the list answer (ListJobsResponse), the largest and most
// frequent body the client reads: a 6,000-job page is ~3 MB. RapidJSON's SAX
// reader (rapidjson-dev, in place, SSE2) feeds a small state machine that
// builds RemoteJobs straight from the events, without a JSON tree (nlohmann's
// DOM costs ~70 ms per 6,000 jobs here; this ~6 ms).
//
// Same contract as ParseListJobsResponse in controller/gateway/gateway_json.h
// (which stays the reference; tests/gateway/list_parser_test.cc and
// fuzz/list_answer_fuzz.cc check the two agree): strict RFC 8259 JSON incl.
// UTF-8 and \u escapes, unknown fields skipped, a later duplicate key wins,
// the same error messages for missing or mistyped fields. Where RapidJSON 1.1
// reads text differently from nlohmann there is an explicit check (see
// list_parser.cc); on the rare numbers the two might disagree on, the
// reference parser decides.

#include <string_view>

#include "controller/core/result.h"
#include "controller/gateway/gateway_json.h"

namespace mlspace::gateway::http {

Result<ListPage> ParseListAnswer(std::string_view body);

}  // namespace mlspace::gateway::http
