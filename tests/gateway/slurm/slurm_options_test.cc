#include "controller/gateway/slurm/slurm_options.h"

#include <gtest/gtest.h>

namespace mlspace::gateway::slurm {
namespace {

Result<SlurmOptions> Parse(const std::string& yaml) {
  return ParseSlurmOptions(YAML::Load(yaml), "backends.yaml: slurm");
}

TEST(SlurmOptionsTest, ParsesEveryField) {
  auto o = Parse(R"(
partitions: {DGX2-MT: gpu, A100-MT: a100}
defaultRegion: DGX2-MT
instanceTypes:
  a100.1gpu: {cpusPerTask: 8, mem: 64G, gres: "gpu:1"}
  cpu.small:
containerRuntime: pyxis
imagePrefix: "docker://"
workerLayout: task
outputDir: /shared/mlspace
launcherPath: /opt/mlspace/mlspace-launch
sbatch: /usr/local/bin/sbatch
squeue: /usr/local/bin/squeue
slurmConf: /etc/slurm/other.conf
accounting: "off"
sbatchArgs: ["--account=ml", "--qos=high"]
commandTimeoutSeconds: 7
)");
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->partitions.at("A100-MT"), "a100");
  EXPECT_EQ(o->default_region, "DGX2-MT");
  EXPECT_EQ(o->instance_types.at("a100.1gpu").cpus_per_task, 8);
  EXPECT_EQ(o->instance_types.at("a100.1gpu").mem, "64G");
  EXPECT_EQ(o->instance_types.at("a100.1gpu").gres, "gpu:1");
  EXPECT_FALSE(o->instance_types.at("cpu.small").cpus_per_task.has_value());
  EXPECT_EQ(o->container_runtime, ContainerRuntime::kPyxis);
  EXPECT_EQ(o->image_prefix, "docker://");
  EXPECT_EQ(o->worker_layout, WorkerLayout::kTask);
  EXPECT_EQ(o->output_dir, "/shared/mlspace");
  EXPECT_EQ(o->launcher_path, "/opt/mlspace/mlspace-launch");
  EXPECT_EQ(o->sbatch, "/usr/local/bin/sbatch");
  EXPECT_EQ(o->squeue, "/usr/local/bin/squeue");
  EXPECT_EQ(o->scancel, "scancel");
  EXPECT_EQ(o->slurm_conf, "/etc/slurm/other.conf");
  EXPECT_EQ(o->accounting, Accounting::kOff);
  EXPECT_EQ(o->extra_sbatch_args, (std::vector<std::string>{"--account=ml", "--qos=high"}));
  EXPECT_EQ(o->command_timeout, std::chrono::seconds(7));
}

TEST(SlurmOptionsTest, DefaultsForAMinimalConfig) {
  auto o = Parse("partitions: {R: debug}\noutputDir: /tmp/out\n");
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->container_runtime, ContainerRuntime::kNone);
  EXPECT_EQ(o->worker_layout, WorkerLayout::kNode);
  EXPECT_EQ(o->accounting, Accounting::kAuto);
  EXPECT_EQ(o->sbatch, "sbatch");
}

TEST(SlurmOptionsTest, ErrorsNameTheField) {
  struct Case {
    std::string yaml;
    std::string message;
  };
  const Case cases[] = {
      {"outputDir: /o\n", "backends.yaml: slurm.partitions: expected a non-empty mapping"},
      {"partitions: {R: p}\n", "backends.yaml: slurm.outputDir: required"},
      {"partitions: {R: p}\noutputDir: rel\n", "slurm.outputDir: expected an absolute path"},
      {"partitions: {R: p}\noutputDir: /o\ncontainerRuntime: docker\n",
       "slurm.containerRuntime: \"docker\": expected \"none\", \"apptainer\" or \"pyxis\""},
      {"partitions: {R: p}\noutputDir: /o\ninstanceTypes: {t: {cpusPerTask: -1}}\n",
       "slurm.instanceTypes.t.cpusPerTask: expected a positive integer"},
      {"partitions: {R: p}\noutputDir: /o\ninstanceTypes: {t: {cpu: 1}}\n",
       "slurm.instanceTypes.t.cpu: unknown field"},
      {"partitions: {R: p}\noutputDir: /o\npartition: x\n", "slurm.partition: unknown field"},
      {"partitions: {R: p}\noutputDir: /o\ndefaultRegion: Q\n",
       "slurm.defaultRegion: \"Q\" is not in partitions"},
      {"partitions: {R: p}\noutputDir: /o\nsbatchArgs: [account]\n",
       "slurm.sbatchArgs[0]: \"account\": expected an option"},
      {"[1, 2]", "backends.yaml: slurm: expected a mapping"},
  };
  for (const auto& c : cases) {
    auto o = Parse(c.yaml);
    ASSERT_FALSE(o.ok()) << c.yaml;
    EXPECT_NE(o.status().message().find(c.message), std::string::npos)
        << "got: " << o.status().message() << "\nwant: " << c.message;
    EXPECT_EQ(o.status().message().find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace mlspace::gateway::slurm
