#include "tests/fakes/fake_manifest_source.h"

#include <gtest/gtest.h>

#include <thread>

namespace mlspace::testing {
namespace {

using std::chrono::milliseconds;

TEST(FakeManifestSourceTest, SetFilesServesSortedSnapshotAndBlobs) {
  FakeManifestSource src;
  src.SetFiles("rev1", {{"b.yaml", "kind: B"}, {"a.yaml", "kind: A"}});
  auto snap = src.Read();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->revision, "rev1");
  ASSERT_EQ(snap->files.size(), 2u);
  EXPECT_EQ(snap->files[0].path, "a.yaml");
  EXPECT_EQ(snap->files[1].path, "b.yaml");
  auto blob = src.ReadBlob(snap->files[1].blob_id);
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(*blob, "kind: B");
  EXPECT_EQ(src.read_calls(), 1);
  EXPECT_EQ(src.blob_read_count(snap->files[1].blob_id), 1);
}

TEST(FakeManifestSourceTest, EqualContentEqualIdsChangedContentNewId) {
  FakeManifestSource src;
  src.SetFiles("r1", {{"a.yaml", "x"}, {"b.yaml", "y"}});
  auto s1 = *src.Read();
  src.SetFiles("r2", {{"a.yaml", "x"}, {"b.yaml", "z"}});
  auto s2 = *src.Read();
  EXPECT_EQ(s1.files[0].blob_id, s2.files[0].blob_id);
  EXPECT_NE(s1.files[1].blob_id, s2.files[1].blob_id);
}

TEST(FakeManifestSourceTest, FailuresOnDemand) {
  FakeManifestSource src;
  src.SetFiles("r1", {{"a.yaml", "x"}});
  src.FailRead(UnavailableError("disk gone"));
  EXPECT_EQ(src.Read().status().code(), StatusCode::kUnavailable);
  src.ClearReadFailure();
  EXPECT_TRUE(src.Read().ok());
  src.FailRefresh(UnavailableError("fetch failed"));
  EXPECT_FALSE(src.Refresh().ok());
  src.ClearRefreshFailure();
  EXPECT_TRUE(src.Refresh().ok());
  EXPECT_EQ(src.refresh_calls(), 2);
  const std::string id = FakeManifestSource::BlobIdFor("x");
  src.FailBlob(id, DataLossError("corrupt"));
  EXPECT_EQ(src.ReadBlob(id).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(src.ReadBlob("nope").status().code(), StatusCode::kNotFound);
}

TEST(FakeManifestSourceTest, WaitForChangeFiresOnChangeAndWakeTimesOutOtherwise) {
  FakeManifestSource src;
  EXPECT_FALSE(src.WaitForChange(milliseconds(5)));
  src.SetFiles("r1", {});
  EXPECT_TRUE(src.WaitForChange(milliseconds(0)));
  EXPECT_FALSE(src.WaitForChange(milliseconds(5)));  // consumed
  std::thread t([&] {
    std::this_thread::sleep_for(milliseconds(20));
    src.Wake();
  });
  EXPECT_TRUE(src.WaitForChange(milliseconds(5000)));
  t.join();
  EXPECT_EQ(src.wake_calls(), 1);
  src.NotifyChange();
  EXPECT_TRUE(src.WaitForChange(milliseconds(0)));
}

}  // namespace
}  // namespace mlspace::testing
