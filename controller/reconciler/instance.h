#pragma once

// The controller's instance identity: the name its submit markers carry,
// so that controllers sharing one workspace never touch each other's jobs
// (docs/reconcile.md "Instance identity"). It is recorded in the state store
// at first start and kept from then on.

#include <string>
#include <string_view>

#include "controller/core/result.h"
#include "controller/store/state_store.h"

namespace mlspace::reconciler {

// A default identity derived from the manifest source (the git URL, else
// the manifests path): a readable part (the repository or directory name,
// lowercased, other characters folded to '-', at most 30 characters) and 8
// hex digits of a hash of the whole source, e.g. "ml-jobs-3f2a9c01". URL
// credentials ("user:token@") and a trailing ".git" or '/' are ignored, so a
// rotated token does not change the default. Always IsValidInstance.
std::string DefaultInstance(std::string_view source);

// OK for an empty flag (none given) or a valid instance name; otherwise
// kInvalidArgument with one line naming --instance and the rule.
Status CheckInstanceFlag(std::string_view flag);

// Decides the identity for a store, and records it on a new store:
//   recorded  flag      → result
//   none      given     → flag, recorded
//   none      empty     → DefaultInstance(source), recorded
//   X         empty/X   → X (the source may have moved: X is kept)
//   X         Y ≠ X     → kFailedPrecondition, one line saying how to rename
// `flag` must be empty or IsValidInstance (kInvalidArgument naming
// --instance otherwise). `where` names the store in messages (its dir).
// Store errors are returned as they are.
Result<store::StoreIdentity> ResolveInstance(store::StateStore& store, std::string_view flag,
                                             std::string_view source, std::string_view where);

}  // namespace mlspace::reconciler
