#include "launcher/launcher.h"

int main(int argc, char** argv) { return mlspace::launcher::Main(argc, argv); }
