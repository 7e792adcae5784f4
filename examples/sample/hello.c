#include <stdio.h>

int
main (void)
{
  printf ("hello from a disk read over NBD in a browser\n");
  return 0;
}
