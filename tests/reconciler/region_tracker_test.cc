// RegionTracker: which regions the poller lists.

#include "controller/reconciler/region_tracker.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

namespace mlspace::reconciler {
namespace {

using Regions = std::set<std::string>;

std::shared_ptr<DesiredState> StateWithJobIn(const std::string& name, const std::string& region) {
  auto state = std::make_shared<DesiredState>();
  api::MLSpaceJob job;
  job.spec.region = region;
  state->objects[ObjectKey{"default", name}] =
      std::make_shared<DesiredObject>(DesiredObject{job, std::nullopt});
  return state;
}

TEST(RegionTrackerTest, RegionCountedWhileARunIsActiveAndDroppedWhenItEnds) {
  RegionTracker t;
  const ObjectKey a{"default", "a"}, b{"default", "b"};
  EXPECT_EQ(t.RegionsInUse(nullptr), Regions{});
  t.SetActive(a, "SR006");
  t.SetActive(b, "SR006");
  EXPECT_EQ(t.RegionsInUse(nullptr), Regions{"SR006"});
  t.SetActive(a, "");  // a ended; b still runs in SR006
  EXPECT_EQ(t.RegionsInUse(nullptr), Regions{"SR006"});
  t.SetActive(b, "SR004");  // b moved region: SR006 no longer in use
  EXPECT_EQ(t.RegionsInUse(nullptr), Regions{"SR004"});
  t.SetActive(b, "SR004");  // repeated report counts once
  t.SetActive(b, "");
  EXPECT_EQ(t.RegionsInUse(nullptr), Regions{});
}

TEST(RegionTrackerTest, IntentRegionsPrimedAtStartStay) {
  RegionTracker t;
  t.AddIntentRegion("SR008");
  const ObjectKey a{"default", "a"};
  t.SetActive(a, "SR008");
  t.SetActive(a, "");
  EXPECT_EQ(t.RegionsInUse(nullptr), Regions{"SR008"});
}

TEST(RegionTrackerTest, DesiredRegionsComputedOncePerState) {
  RegionTracker t;
  auto first = StateWithJobIn("a", "SR004");
  EXPECT_EQ(t.RegionsInUse(first), Regions{"SR004"});
  // The same state again: the cached regions are reused, not recomputed
  // (a DesiredState is immutable once published; changing it here shows
  // the cache).
  first->objects.clear();
  EXPECT_EQ(t.RegionsInUse(first), Regions{"SR004"});
  // A new state is read afresh; invalid objects (no job) name no region.
  auto second = StateWithJobIn("b", "SR006");
  second->objects[ObjectKey{"default", "bad"}] = std::make_shared<DesiredObject>(
      DesiredObject{std::nullopt, InvalidManifest{"X", "x", "bad.yaml", ""}});
  EXPECT_EQ(t.RegionsInUse(second), Regions{"SR006"});
  t.SetActive(ObjectKey{"default", "a"}, "SR004");
  EXPECT_EQ(t.RegionsInUse(second), (Regions{"SR004", "SR006"}));
  EXPECT_EQ(t.RegionsInUse(nullptr), Regions{"SR004"});
}

}  // namespace
}  // namespace mlspace::reconciler
