/* hello: the smallest driver. Console on load and unload:
 *   hello: loaded, answer=42
 *   hello: unloaded after 1 greeting(s)
 */
#include <kernel.h>

static int greetings;

int hello_greet(const char *who)
{
	greetings++;
	return printk(KERN_INFO "hello: greetings, %s!\n", who);
}
EXPORT_SYMBOL(hello_greet);

static int __init hello_init(void)
{
	pr_info("hello: loaded, answer=%d\n", 42);
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
