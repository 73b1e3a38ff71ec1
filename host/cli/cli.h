/* Commands of the weft executable (host/cli/cmd_*.c). Each takes argv[0] = its own name. */
#ifndef WEFT_HOST_CLI_H
#define WEFT_HOST_CLI_H

int wf_cmd_inspect(int argc, char **argv);
int wf_cmd_train(int argc, char **argv);
int wf_cmd_eval(int argc, char **argv);
int wf_cmd_export(int argc, char **argv);
int wf_cmd_generate(int argc, char **argv);
int wf_cmd_compare(int argc, char **argv);

#endif
