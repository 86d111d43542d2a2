/* hello: the smallest driver. Console on load and unload:
 *   hello: loaded, answer=42
 *   hello: unloaded after 1 greeting(s)
 * Parameters: answer (int), greeting (charp), loud (bool).
 */
#include <kernel.h>

static int greetings;
static int answer = 42;
module_param(answer, int, 0644);
MODULE_PARM_DESC(answer, "The number printed at load");
static char *greeting = "greetings";
module_param(greeting, charp, 0444);
static bool loud;
module_param(loud, bool, 0644);

int hello_greet(const char *who)
{
	greetings++;
	return printk(KERN_INFO "hello: %s, %s%s\n", greeting, who, loud ? "!!!" : "!");
}
EXPORT_SYMBOL(hello_greet);

static int __init hello_init(void)
{
	pr_info("hello: loaded, answer=%d\n", answer);
	greetings = 1;
	return 0;
}

static void __exit hello_exit(void)
{
	pr_info("hello: unloaded after %d greeting(s)\n", greetings);
}

module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("module-sandbox");
MODULE_DESCRIPTION("Prints a line on load and on unload");
