// BackendRouter and Catalog over two FakeJobGateways, and the reconciler
// driving them: each object reaches its backend, lists are per (backend,
// region), a marker found on one backend never settles an object of another.

#include "controller/backends/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "controller/api/codec.h"
#include "controller/backends/registry.h"
#include "controller/reconciler/gateway_health.h"
#include "tests/reconciler/harness.h"

namespace mlspace::backends {
namespace {

using mlspace::testing::FakeJobGateway;
using reconciler::testing::MakeJob;
using ::testing::HasSubstr;
using Fault = FakeJobGateway::SubmitFault;
using namespace std::chrono_literals;

constexpr char kConfig[] = R"(default: alpha
backends:
  - name: alpha
    type: local
  - name: beta
    type: local
    maxWorkers: 2
    regions:
      SR006: SR006
      west: A100-MT
    instanceTypes:
      a100.1gpu: a100plus.1gpu
)";

std::shared_ptr<const Catalog> TestCatalog() {
  TypeRegistry types;
  RegisterBuiltinTypes(types);
  auto cfg = ParseBackends(kConfig, "backends.yaml", types);
  EXPECT_TRUE(cfg.ok()) << cfg.status().message();
  return std::make_shared<const Catalog>(std::move(cfg).value());
}

TEST(CatalogTest, ChecksBackendRegionInstanceTypeAndWorkersNamingTheField) {
  auto catalog = TestCatalog();
  api::JobSpec spec = MakeJob("a", "h").spec;  // SR006, a100.1gpu
  EXPECT_TRUE(catalog->CheckJob(spec).ok());
  spec.backend = "gamma";
  EXPECT_EQ(catalog->CheckJob(spec).message(),
            "spec.backend: unknown backend \"gamma\" (configured: alpha, beta)");
  spec.backend = "beta";
  EXPECT_TRUE(catalog->CheckJob(spec).ok());
  spec.region = "east";
  EXPECT_EQ(catalog->CheckJob(spec).message(),
            "spec.region: backend beta does not map region \"east\" (known: SR006, west)");
  spec.region = "west";
  spec.instance_type = "cpu";
  EXPECT_THAT(catalog->CheckJob(spec).message(),
              HasSubstr("spec.instanceType: backend beta does not map instance type \"cpu\""));
  spec.instance_type = "a100.1gpu";
  spec.workers = 3;
  EXPECT_EQ(catalog->CheckJob(spec).message(),
            "spec.workers: 3 is more than backend beta allows (maxWorkers 2)");
  // Without a table, a local/mlspace backend takes the Gateway's regions.
  spec.backend = "";
  EXPECT_THAT(catalog->CheckJob(spec).message(),
              HasSubstr("spec.region: backend alpha does not map region \"west\" (known: A100-MT, "
                        "DGX2-MT, SR003"));
  spec.region = "SR008";
  EXPECT_TRUE(catalog->CheckJob(spec).ok());
}

TEST(CatalogTest, FlagsBackendKeepsTheGatewayRegionCheck) {
  // The CRD no longer lists regions (backends map their own names); from
  // flags the one backend still accepts only the Gateway's regions.
  TypeRegistry types;
  RegisterBuiltinTypes(types);
  Catalog flags(SingleBackend("default", "local", &types));
  api::JobSpec spec = MakeJob("a", "h").spec;
  EXPECT_TRUE(flags.CheckJob(spec).ok());
  spec.region = "SR001";
  EXPECT_THAT(flags.CheckJob(spec).message(),
              HasSubstr("spec.region: backend default does not map region \"SR001\""));
}

TEST(CatalogTest, LocationsAreQualifiedAndPlainOnesBelongToTheDefault) {
  auto catalog = TestCatalog();
  api::JobSpec spec = MakeJob("a", "h").spec;
  EXPECT_EQ(catalog->Locate(spec), "alpha/SR006");
  spec.backend = "beta";
  spec.region = "west";
  EXPECT_EQ(catalog->Locate(spec), "beta/west");
  auto t = catalog->Resolve("beta/west");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->index, 1u);
  EXPECT_EQ(t->remote_region, "A100-MT");
  auto plain = catalog->Resolve("SR006");  // a record from before --backends
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->index, 0u);
  EXPECT_EQ(plain->remote_region, "SR006");
  EXPECT_EQ(catalog->Resolve("gone/SR006").status().message(),
            "location gone/SR006: backend \"gone\" is not configured (--backends)");
  // Whose GatewayHealth a call asks: the named backend, else the default.
  EXPECT_EQ(catalog->BackendName("beta/west"), "beta");
  EXPECT_EQ(catalog->BackendName("beta/east"), "beta") << "an unmapped region is still beta's";
  EXPECT_EQ(catalog->BackendName("alpha/SR006"), "alpha");
  EXPECT_EQ(catalog->BackendName("SR006"), "alpha");
  EXPECT_EQ(catalog->BackendName("gone/SR006"), "alpha");
  EXPECT_EQ(catalog->BackendName(""), "alpha");
  // From flags: one backend, plain regions, only its own name accepted.
  Catalog flags(SingleBackend("default", "mlspace"));
  spec = MakeJob("a", "h").spec;
  EXPECT_EQ(flags.Locate(spec), "SR006");
  spec.backend = "default";
  EXPECT_TRUE(flags.CheckJob(spec).ok());
  spec.backend = "beta";
  EXPECT_THAT(flags.CheckJob(spec).message(), HasSubstr("spec.backend: unknown backend"));
  EXPECT_EQ(flags.BackendName("SR006"), "default");
  EXPECT_EQ(flags.BackendName("beta/west"), "default") << "plain locations from flags";
}

TEST(BackendRouterTest, RoutesEveryCallByLocationAndMapsNames) {
  auto* alpha = new FakeJobGateway();
  auto* beta = new FakeJobGateway();
  std::vector<std::unique_ptr<gateway::JobGateway>> gws;
  gws.emplace_back(alpha);
  gws.emplace_back(beta);
  BackendRouter router(TestCatalog(), std::move(gws));
  std::vector<std::string> noted;
  router.SetObserver([&](const std::string& b, std::string_view op, std::string_view result) {
    noted.push_back(b + " " + std::string(op) + " " + std::string(result));
  });

  gateway::SubmitRequest req;
  req.script = "/x";
  req.base_image = "img";
  req.instance_type = "a100.1gpu";
  req.region = "beta/west";
  req.job_desc = "m1";
  auto name = router.Submit(req);
  ASSERT_TRUE(name.ok());
  ASSERT_EQ(beta->submits().size(), 1u);
  EXPECT_EQ(beta->submits()[0].region, "A100-MT");
  EXPECT_EQ(beta->submits()[0].instance_type, "a100plus.1gpu");
  EXPECT_EQ(alpha->CountCalls("Submit"), 0);

  auto listed = router.List({"beta/west", {}, 100});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].region, "beta/west") << "jobs come back keyed by location";
  EXPECT_TRUE(router.List({"alpha/SR006", {}, 100})->empty());
  EXPECT_EQ(alpha->calls().back().arg, "SR006");

  auto got = router.GetIn(*name, "beta/west");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->region, "beta/west");
  EXPECT_TRUE(router.GetIn(*name, "alpha/SR006").Is(gateway::ErrorKind::kNotFound));
  EXPECT_TRUE(router.Cancel(*name, "beta/west").ok());
  EXPECT_EQ(beta->cancelled(), std::vector<std::string>{*name});
  EXPECT_TRUE(alpha->cancelled().empty());

  // Unroutable: a backend no longer configured, a region no longer mapped,
  // an instance type the backend does not map. Nothing is sent.
  req.region = "gone/SR006";
  EXPECT_TRUE(router.Submit(req).Is(gateway::ErrorKind::kInvalid));
  req.region = "beta/east";
  EXPECT_THAT(router.Submit(req).error().message, HasSubstr("does not map region \"east\""));
  req.region = "beta/west";
  req.instance_type = "cpu";
  EXPECT_THAT(router.Submit(req).error().message, HasSubstr("spec.instanceType"));
  EXPECT_EQ(beta->CountCalls("Submit"), 1);
  EXPECT_TRUE(router.List({"gone/SR006", {}, 100}).Is(gateway::ErrorKind::kInvalid));
  // Per-backend call counts (mlspace_backend_requests_total): only calls
  // that reached a backend, labelled by its configured name.
  EXPECT_EQ(noted,
            (std::vector<std::string>{"beta submit ok", "beta list ok", "alpha list ok",
                                      "beta get ok", "alpha get not_found", "beta cancel ok"}));
}

// The reconciler over the router: the harness's process, with the
// catalog's locations.
class RoutedReconcilerTest : public reconciler::testing::ReconcilerTest {
 protected:
  RoutedReconcilerTest() : alpha_(new FakeJobGateway(&clock_)), beta_(new FakeJobGateway(&clock_)) {
    catalog_ = TestCatalog();
    std::vector<std::unique_ptr<gateway::JobGateway>> gws;
    gws.emplace_back(alpha_);
    gws.emplace_back(beta_);
    router_ = std::make_unique<BackendRouter>(catalog_, std::move(gws));
    opts_.locate = [c = catalog_](const api::JobSpec& s) { return c->Locate(s); };
    Restart(*router_);
  }
  static api::MLSpaceJob On(api::MLSpaceJob j, const std::string& backend) {
    j.spec.backend = backend;
    return j;
  }

  std::shared_ptr<const Catalog> catalog_;
  FakeJobGateway* alpha_;  // owned by router_
  FakeJobGateway* beta_;
  std::unique_ptr<BackendRouter> router_;
};

TEST_F(RoutedReconcilerTest, EachObjectReachesItsBackendAndListsArePerBackend) {
  auto a = MakeJob("a", "aaaaaaaa11111111");
  auto b = On(MakeJob("b", "bbbbbbbb22222222"), "beta");
  auto c = On(MakeJob("c", "cccccccc33333333", "west"), "beta");
  SetDesired({a, b, c});
  for (const char* n : {"a", "b", "c"}) ASSERT_TRUE(Reconcile(n).error.ok()) << n;

  ASSERT_EQ(alpha_->submits().size(), 1u);
  EXPECT_THAT(*alpha_->submits()[0].job_desc, HasSubstr(MarkerOf(a, 1)));
  EXPECT_EQ(alpha_->submits()[0].region, "SR006");
  ASSERT_EQ(beta_->submits().size(), 2u);
  EXPECT_THAT(*beta_->submits()[0].job_desc, HasSubstr(MarkerOf(b, 1)));
  EXPECT_THAT(*beta_->submits()[1].job_desc, HasSubstr(MarkerOf(c, 1)));
  EXPECT_EQ(beta_->submits()[1].region, "A100-MT") << "region mapped by the backend";
  EXPECT_EQ(Record("a").region, "alpha/SR006");
  EXPECT_EQ(Record("b").region, "beta/SR006");
  EXPECT_EQ(Record("c").region, "beta/west");
  EXPECT_EQ(proc_->reconciler->RegionsInUse(),
            (std::set<std::string>{"alpha/SR006", "beta/SR006", "beta/west"}));

  Poll();
  // One list per (backend, region), in the backend's own region names.
  std::vector<std::string> alpha_lists, beta_lists;
  for (const auto& call : alpha_->calls()) {
    if (call.method == "List") alpha_lists.push_back(call.arg);
  }
  for (const auto& call : beta_->calls()) {
    if (call.method == "List") beta_lists.push_back(call.arg);
  }
  EXPECT_EQ(alpha_lists, std::vector<std::string>{"SR006"});
  EXPECT_THAT(beta_lists, ::testing::UnorderedElementsAre("SR006", "A100-MT"));

  alpha_->SetStatus(Record("a").status.remote_job_name, gateway::RemoteStatus::kRunning);
  beta_->SetStatus(Record("c").status.remote_job_name, gateway::RemoteStatus::kCompleted);
  Poll();
  for (const char* n : {"a", "b", "c"}) Reconcile(n);
  EXPECT_EQ(PhaseOf("a"), api::Phase::kRunning);
  EXPECT_EQ(PhaseOf("b"), api::Phase::kSubmitted);
  EXPECT_EQ(PhaseOf("c"), api::Phase::kSucceeded);

  // Suspending cancels on the object's own backend.
  auto suspended = On(MakeJob("b", "bbbbbbbb22222222"), "beta");
  suspended.spec.run_policy.suspend = true;
  SetDesired({a, suspended, c}, "rev2");
  Reconcile("b");
  EXPECT_EQ(beta_->cancelled().size(), 1u);
  EXPECT_TRUE(alpha_->cancelled().empty());
}

TEST_F(RoutedReconcilerTest, MarkerOnAnotherBackendIsNotAdoptedAfterStoreLoss) {
  auto a = MakeJob("a", "aaaaaaaa11111111");
  auto b = On(MakeJob("b", "bbbbbbbb22222222"), "beta");
  // A job of beta carries a's marker (same key, spec and instance).
  gateway::RemoteJob stray;
  stray.name = "beta-stray";
  stray.status = gateway::RemoteStatus::kRunning;
  stray.region = "SR006";
  stray.job_desc = MarkerOf(a, 1);
  stray.created = clock_.Now() - 1h;
  beta_->AddJob(stray);
  SetDesired({a, b});
  ASSERT_TRUE(proc_->reconciler->Prime().ok());  // empty store: adoption armed
  clock_.Advance(1s);
  Poll();
  Reconcile("a");
  ASSERT_EQ(alpha_->submits().size(), 1u) << "a is submitted on its own backend";
  EXPECT_NE(Record("a").status.remote_job_name, "beta-stray");
  EXPECT_TRUE(beta_->cancelled().empty());
  EXPECT_EQ(beta_->Job("beta-stray")->status, gateway::RemoteStatus::kRunning);
}

TEST_F(RoutedReconcilerTest, MarkerOnItsOwnBackendIsAdoptedAfterStoreLoss) {
  // The control of the test above: the same job on alpha is a's.
  auto a = MakeJob("a", "aaaaaaaa11111111");
  gateway::RemoteJob lost;
  lost.name = "alpha-lost";
  lost.status = gateway::RemoteStatus::kRunning;
  lost.region = "SR006";
  lost.job_desc = MarkerOf(a, 1);
  lost.created = clock_.Now() - 1h;
  alpha_->AddJob(lost);
  SetDesired({a});
  ASSERT_TRUE(proc_->reconciler->Prime().ok());
  clock_.Advance(1s);
  Poll();
  Reconcile("a");
  EXPECT_EQ(alpha_->CountCalls("Submit"), 0);
  EXPECT_EQ(Record("a").status.remote_job_name, "alpha-lost");
}

TEST_F(RoutedReconcilerTest, AmbiguousSubmitIsSettledOnlyByItsOwnBackendsLists) {
  auto a = MakeJob("a", "aaaaaaaa11111111");
  auto b = On(MakeJob("b", "bbbbbbbb22222222"), "beta");
  SetDesired({a, b});
  alpha_->ScriptSubmit(Fault::kAmbiguousNotCreated);
  Reconcile("a");
  ASSERT_EQ(store_.OpenIntents()->size(), 1u);
  EXPECT_EQ(store_.OpenIntents()->front().region, "alpha/SR006");
  // beta (listed for b) shows a job with a's marker: not a's.
  gateway::RemoteJob stray;
  stray.name = "beta-stray";
  stray.status = gateway::RemoteStatus::kRunning;
  stray.region = "SR006";
  stray.job_desc = MarkerOf(a, 1);
  stray.created = clock_.Now();
  beta_->AddJob(stray);
  Reconcile("b");
  for (int i = 0; i < 4; ++i) {
    Poll(25s);
    Reconcile("a");
  }
  // Absent from alpha's lists: resent there with the same marker.
  ASSERT_EQ(alpha_->CountCalls("Submit"), 2);
  EXPECT_EQ(alpha_->submits()[0].job_desc, alpha_->submits()[1].job_desc);
  EXPECT_EQ(alpha_->JobsWithMarker(MarkerOf(a, 1)).size(), 1u);
  EXPECT_NE(Record("a").status.remote_job_name, "beta-stray");
  EXPECT_TRUE(beta_->cancelled().empty());
}

// Issue 15, as cmd/ wires it: the router behind a HealthCheckedGateway
// whose GatewayHealthSet places locations with Catalog::BackendName. A wrong
// key on beta pauses beta alone; alpha keeps submitting and listing.
class RoutedHealthTest : public RoutedReconcilerTest {
 protected:
  RoutedHealthTest()
      : health_(clock_, {}, nullptr, {"alpha", "beta"},
                [c = catalog_](const std::string& loc) { return c->BackendName(loc); }),
        gated_(*router_, health_) {
    Restart(gated_);
    reconciler::JobReconciler::Deps d;
    d.store = &store_;
    d.gateway = &gated_;
    d.clock = &clock_;
    d.desired = &desired_;
    d.observed = &proc_->observed;
    d.build_request = reconciler::testing::SimpleBuild;
    d.observer = &observer_;
    d.health = &health_;
    proc_->reconciler = std::make_unique<reconciler::JobReconciler>(std::move(d), opts_);
  }
  reconciler::GatewayHealthSet health_;
  reconciler::HealthCheckedGateway gated_;
};

TEST_F(RoutedHealthTest, WrongKeyOnOneBackendLeavesTheOtherSubmitting) {
  beta_->SetUnauthorized(true);
  auto a = MakeJob("a", "aaaaaaaa11111111");
  auto b = On(MakeJob("b", "bbbbbbbb22222222"), "beta");
  auto c = On(MakeJob("c", "cccccccc33333333", "west"), "beta");
  auto d = MakeJob("d", "dddddddd44444444");
  SetDesired({a, b, c, d});
  for (const char* n : {"b", "c", "a", "d"}) EXPECT_TRUE(Reconcile(n).error.ok()) << n;
  EXPECT_EQ(beta_->CountCalls("Submit"), 1) << "one 401, then beta is paused";
  EXPECT_EQ(alpha_->CountCalls("Submit"), 2);
  EXPECT_EQ(PhaseOf("a"), api::Phase::kSubmitted);
  EXPECT_EQ(PhaseOf("d"), api::Phase::kSubmitted);
  EXPECT_EQ(PhaseOf("b"), api::Phase::kPending);
  EXPECT_EQ(PhaseOf("c"), api::Phase::kPending);
  EXPECT_EQ(Cond(Record("c"), api::kCondStalled)->reason, reconciler::kReasonGatewayUnauthorized);
  EXPECT_THAT(Cond(Record("c"), api::kCondStalled)->message, HasSubstr("backend beta rejects"));
  EXPECT_EQ(Cond(Record("a"), api::kCondStalled), nullptr);
  EXPECT_FALSE(health_.Find("beta")->authorized());
  EXPECT_TRUE(health_.Find("alpha")->authorized());
  // Polls list alpha's region, none of beta's.
  Poll(5s);
  EXPECT_EQ(alpha_->CountCalls("List"), 1);
  EXPECT_EQ(beta_->CountCalls("List"), 0);
}

TEST(BackendValidationTest, UnknownBackendMakesTheManifestInvalidNamingTheField) {
  auto catalog = TestCatalog();
  reconciler::DesiredStateBuilder builder(0.5);
  builder.SetJobCheck([catalog](const api::JobSpec& s) { return catalog->CheckJob(s); });
  auto manifest = [](const std::string& name, const std::string& extra) {
    return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
           "\nspec:\n  region: SR006\n  image: cr.ai.cloud.ru/x/y:1\n  instanceType: a100.1gpu\n"
           "  command: [\"python\", \"train.py\"]\n" +
           extra;
  };
  std::map<std::string, std::string> files = {
      {"good.yaml", manifest("good", "  backend: beta\n")},
      {"bad.yaml", manifest("bad", "  backend: gamma\n")},
      {"unmapped.yaml", manifest("unmapped", "  backend: beta\n  workers: 3\n")},
      {"plain.yaml", manifest("plain", "")}};
  std::vector<reconciler::DesiredStateBuilder::FileRef> refs;
  for (const auto& [p, c] : files) refs.push_back({p, c});
  auto out = builder.Build("rev1", refs,
                           [](const std::string& blob) -> Result<std::string> { return blob; }, {});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const auto& st = *out->state;
  ASSERT_TRUE(st.Find({"default", "good"})->job);
  EXPECT_EQ(st.Find({"default", "good"})->job->spec.backend, "beta");
  ASSERT_TRUE(st.Find({"default", "plain"})->job);
  const auto* bad = st.Find({"default", "bad"});
  ASSERT_TRUE(bad->invalid);
  EXPECT_EQ(bad->invalid->reason, "InvalidSpec");
  EXPECT_EQ(bad->invalid->message,
            "bad.yaml: spec.backend: unknown backend \"gamma\" (configured: alpha, beta)");
  const auto* unmapped = st.Find({"default", "unmapped"});
  ASSERT_TRUE(unmapped->invalid);
  EXPECT_THAT(unmapped->invalid->message, HasSubstr("spec.workers"));
}

TEST(BackendValidationTest, BackendIsPartOfTheSpecHashOnlyWhenSet) {
  api::JobSpec s = MakeJob("a", "h").spec;
  auto plain = api::SpecToJson(s);
  EXPECT_FALSE(plain.contains("backend")) << "specs without a backend hash as before";
  s.backend = "beta";
  EXPECT_EQ(api::SpecToJson(s)["backend"], "beta");
  auto back = api::SpecFromJson(api::SpecToJson(s));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->backend, "beta");
}

}  // namespace
}  // namespace mlspace::backends

namespace mlspace::backends {
namespace {

// The slurm type (package slurm) through the registry: its settings under
// `slurm:`, its partitions and instance types as the backend's tables, and a
// working SlurmGateway behind the router (squeue is a stand-in script).
TEST(SlurmBackendTest, RegisteredTypeParsesDerivesTablesAndRoutes) {
  std::string dir = ::testing::TempDir() + "/backends-slurm-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  {
    std::ofstream sq(dir + "/squeue");
    sq << "#!/bin/sh\necho '{\"jobs\": []}'\n";
  }
  std::filesystem::permissions(dir + "/squeue", std::filesystem::perms::owner_all);
  TypeRegistry types;
  RegisterBuiltinTypes(types);
  std::string yaml =
      "default: hpc\nbackends:\n  - name: hpc\n    type: slurm\n    slurm:\n"
      "      partitions: {gpu: debug}\n"
      "      instanceTypes: {a100.1gpu: {cpusPerTask: 1}}\n"
      "      outputDir: " +
      dir + "/out\n      squeue: " + dir + "/squeue\n";
  auto cfg = ParseBackends(yaml, "backends.yaml", types);
  ASSERT_TRUE(cfg.ok()) << cfg.status().message();
  const BackendConfig& hpc = cfg->backends[0];
  EXPECT_EQ(hpc.regions.Map("gpu"), "gpu") << "SlurmGateway maps it to the partition itself";
  EXPECT_EQ(hpc.regions.Map("SR006"), std::nullopt);
  EXPECT_EQ(hpc.instance_types.Map("a100.1gpu"), "a100.1gpu");
  EXPECT_EQ(hpc.instance_types.Map("cpu"), std::nullopt);

  auto catalog = std::make_shared<const Catalog>(*cfg);
  api::JobSpec spec = MakeJob("a", "h").spec;  // SR006
  EXPECT_EQ(catalog->CheckJob(spec).message(),
            "spec.region: backend hpc does not map region \"SR006\" (known: gpu)");
  spec.region = "gpu";
  EXPECT_TRUE(catalog->CheckJob(spec).ok());

  BuildContext ctx;
  ctx.clock = &SystemClock::Get();
  auto gw = types.Find("slurm")->make(hpc, ctx);
  ASSERT_TRUE(gw.ok()) << gw.status().message();
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/out"));
  std::vector<std::unique_ptr<gateway::JobGateway>> gws;
  gws.push_back(std::move(gw).value());
  BackendRouter router(catalog, std::move(gws));
  auto listed = router.List({"hpc/gpu", {}, 100});
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  EXPECT_TRUE(listed->empty());

  // Its own errors keep file, line and the nested field.
  auto bad = ParseBackends(
      "backends:\n  - name: hpc\n    type: slurm\n    slurm:\n      partitions: {gpu: debug}\n"
      "      outputDir: relative\n",
      "backends.yaml", types);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("backends.yaml:5: backends[hpc].slurm.outputDir: "
                                                "expected an absolute path"));
  auto missing =
      ParseBackends("backends:\n  - name: hpc\n    type: slurm\n", "backends.yaml", types);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "backends.yaml:2: backends[hpc].slurm: required: a mapping of Slurm settings "
            "(docs/slurm.md)");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mlspace::backends
